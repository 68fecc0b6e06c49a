package Devmon::Stream;

# Set-up shared by the live stream suites (t/2xx-*.t): a private
# redis-server, an HS256 key for the tokens their Python clients mint
# (t/lib/devmon_stream.py), and the environment those clients read.
#
#     use Devmon::Stream;
#     my $redis = Devmon::Stream::setup(port => 6400);
#     Devmon::Stream::defaults(python_timeout => 60);

use strict;
use warnings;

use FindBin;
use Devmon::Util qw(start_redis);
use Devmon::JWT;

our $WsConfig = <<'_EOC_';
    location = /ws {
        devmon_ws;
    }
_EOC_

our $HttpConfig = <<'_EOC_';
    devmon_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    devmon_jwt_key hs256 $TEST_NGINX_DEVMON_KEYS/hs256.key;
    devmon_user_limit 0;
_EOC_

my $Keys;


# %o: port (redis-server on 127.0.0.1), as Devmon::Util::start_redis
sub setup {
    my %o = @_;

    $ENV{DEVMON_ROOT} //= "$FindBin::Bin/..";
    $ENV{PYTHONPATH} = "$ENV{DEVMON_ROOT}/t/lib";
    $ENV{DEVMON_NGINX_PID} = $Test::Nginx::Util::PidFile;

    # the secret is made here, per run, and never committed
    $Keys = Devmon::JWT->new;
    $ENV{DEVMON_JWT_SECRET} = $Keys->hs_secret('hs256.key', 32);
    $ENV{TEST_NGINX_DEVMON_KEYS} = $Keys->dir;

    return start_redis(%o);
}



# What a block leaves out: http_config (the broker and the key above, and
# %o's http_extra lines), config (a /ws location, or %o's config) and the
# Python client's time limit (%o's python_timeout, 30 s by default).

sub defaults {
    my %o = @_;

    Test::Nginx::Util::add_block_preprocessor(sub {
        my $block = shift;

        $block->set_value('http_config', $HttpConfig . ($o{http_extra} // ''))
            unless defined $block->http_config;

        $block->set_value('config', $o{config} // $WsConfig)
            unless defined $block->config;

        $block->set_value('python_timeout', $o{python_timeout} // 30)
            unless defined $block->python_timeout;
    });
}


1;
