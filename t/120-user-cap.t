# The per-user connection cap, counted across two workers in the shared
# zone: the 11th connection of a user gets 429 with Retry-After, another
# user is not affected, closed connections give their slots back, and the
# slots of a worker killed with SIGKILL are reclaimed by its successor.

use Test::Nginx::Socket;
use Devmon::Util;
use Devmon::JWT;

# the streams part needs its broker for every connection
our $REDIS = start_redis(unix => 1);

END { stop_redis($REDIS) if $REDIS }

our ($K, $SECRET, %T, @HELD);

$K = Devmon::JWT->new;
$ENV{TEST_NGINX_DEVMON_KEYS} = $K->dir;
$SECRET = $K->hs_secret('hs256.key', 32);

for my $u (qw(alice bob)) {
    $T{$u} = $K->token(alg => 'HS256', key => $SECRET,
                       claims => { sub => $u, acct => 'acme',
                                   exp => time + 3600 });
}


# opens $n connections of $user and keeps them; dies unless all get 101
sub hold {
    my ($n, $user) = @_;

    close $_->{sock} for grep { $_->{sock} } @HELD;
    @HELD = ();

    for my $i (1 .. $n) {
        my $c = ws_connect(uri => '/ws',
                           headers => "Authorization: Bearer $T{$user}");

        die "connection $i of $user: " . ($c->{error} // $c->{status})
            . "\n" if $c->{status} != 101;

        push @HELD, $c;
    }
}


sub release {
    my $n = shift;

    close $_->{sock} for splice @HELD, 0, $n;
    sleep 0.5;
}


# SIGKILL every worker of the test's nginx: their pool cleanups never run
sub kill_workers {
    my $pid = Test::Nginx::Util::get_pid_from_pidfile()
        or die "no master pid\n";
    my @workers = grep { /^\d+$/ } split /\s+/, `pgrep -P $pid`;

    die "expected 2 workers of $pid, found @workers\n" if @workers != 2;

    kill 'KILL', @workers;
    close $_->{sock} for splice @HELD;

    # the master respawns them into the same process slots
    for (1 .. 50) {
        sleep 0.1;
        my @now = grep { /^\d+$/ } split /\s+/, `pgrep -P $pid`;
        return if @now == 2 && !grep { my $w = $_; grep { $_ == $w } @now }
                                      @workers;
    }

    die "workers were not respawned\n";
}


sub up {
    return "Upgrade: websocket\nConnection: Upgrade, close\n"
           . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\n"
           . "Sec-WebSocket-Version: 13\n"
           . "Authorization: Bearer $T{$_[0]}\n";
}


repeat_each(1);
no_shuffle();
log_level('info');
master_on();
workers(2);

plan tests => 19;

our $config = <<'_EOC_';
    location = /ws {
        devmon_ws;
        devmon_jwt_key hs256 $TEST_NGINX_DEVMON_KEYS/hs256.key;

        # held connections never answer the 1001 of a stopping nginx
        devmon_close_timeout 200ms;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', $config) unless defined $block->config;
    $block->set_value('http_config', "devmon_redis unix:$REDIS->{socket};\n"
                                     . ($block->http_config // ''));
});

run_tests();

__DATA__

=== TEST 1: the 11th connection of a user is refused with 429 + Retry-After
--- http_config
devmon_zone devmon 1m;
devmon_user_limit 10;
--- init
::hold(10, 'alice');
--- request
GET /ws
--- more_headers eval
::up('alice')
--- error_code: 429
--- response_headers
Retry-After: 10
--- response_body_like: ^\{"error":"user_limit","message":"[^"]+"\}$
--- error_log
user "alice" of account "acme" is at its limit of 10 connections
--- no_error_log
[error]



=== TEST 2: another user of the same account still connects
--- init
::hold(10, 'alice');
--- ws_headers eval
"Authorization: Bearer $::T{bob}"
--- ws
send text ping_msg(2)
seek text pong(2)
--- no_error_log
[error]



=== TEST 3: closed connections give their slots back
--- init
::hold(10, 'alice'); ::release(3);
--- ws_headers eval
"Authorization: Bearer $::T{alice}"
--- ws
send text ping_msg(3)
seek text pong(3)
--- no_error_log
[error]



=== TEST 4: slots of killed workers are reclaimed by the respawned ones
--- init
::hold(10, 'alice'); ::kill_workers();
--- ws_headers eval
"Authorization: Bearer $::T{alice}"
--- ws
send text ping_msg(4)
seek text pong(4)
--- error_log
[alert]
user connection slots of a dead worker
--- no_error_log
[error]
