# The module builds, loads into Debian's nginx with load_module, and a
# broken configuration stops nginx with a message naming file, line and
# reason.  A devmon_ws or devmon_snapshot location without a key is such a
# configuration: serving an account's data unauthenticated is refused.

use Test::Nginx::Socket;
use Devmon::Util;
use Devmon::JWT;

repeat_each(1);
no_shuffle();

# blocks: 3 each; outside blocks: 1 (.so) + 5 * 2 + 2 * 1 (nginx -t)
plan tests => repeat_each() * (3 * blocks()) + 16;

my $keys = Devmon::JWT->new;
$keys->hs_secret('hs256.key', 32);
$ENV{TEST_NGINX_DEVMON_KEYS} = $keys->dir;

my $key = "devmon_jwt_key hs256 " . $keys->dir . "/hs256.key;";

# devmon_ws needs a broker in the http block ("nginx -t" does not connect)
my $broker = "devmon_redis 127.0.0.1:6399;\n";

# the blocks start nginx for real: a real broker
our $REDIS = start_redis(unix => 1);

END { stop_redis($REDIS) if $REDIS }

# where nginx says a config error is
my $at = qr/ in \S*nginx\.conf:\d+/;

# what a keyless devmon location is told
my $needs = qr/needs "devmon_jwt_key" or "devmon_jwt_jwks"/;

my $so = $ENV{TEST_NGINX_LOAD_MODULES} // '';
ok($so =~ /ngx_http_devmon_module\.so/ && -f $so,
   "TEST_NGINX_LOAD_MODULES names the built module ($so)");

my ($st, $out) = nginx_config_test(
    "${broker}server { listen 127.0.0.1:1999;\n"
    . "location = /ws { devmon_ws; $key } }");
is($st, 0, "nginx -t accepts devmon_ws") or diag($out);
like($out, qr/test is successful/, "nginx -t says the test is successful");

($st, $out) = nginx_config_test(
    "${broker}server { listen 127.0.0.1:1999;\n"
    . "location = /ws { devmon_ws; $key devmon_max_message_size 100; } }");
isnt($st, 0, "nginx -t refuses devmon_max_message_size below 125");
like($out, qr/\[emerg\] "devmon_max_message_size" must be at least 125$at/,
     "the refusal names the directive, the reason, file and line");

($st, $out) = nginx_config_test("devmon_ws;");
isnt($st, 0, "nginx -t refuses devmon_ws outside a location");
like($out, qr/\[emerg\] "devmon_ws" directive is not allowed here$at/,
     "the refusal says where devmon_ws is not allowed");

($st, $out) = nginx_config_test(
    "${broker}server { listen 127.0.0.1:1999;\n"
    . "location = /ws { devmon_ws; } }");
isnt($st, 0, "nginx -t refuses a devmon_ws location without a key");
like($out, qr/\[emerg\] "devmon_ws" in location "\/ws" $needs/,
     "the refusal names the location and the missing directives");

($st, $out) = nginx_config_test(
    "${broker}server { listen 127.0.0.1:1999;\n"
    . "location /ws { devmon_ws; $key }\n"
    . "location = /api/snapshot { devmon_snapshot; } }");
isnt($st, 0, "nginx -t refuses a devmon_snapshot location without a key");
like($out,
     qr/\[emerg\] "devmon_snapshot" in location "\/api\/snapshot" $needs/,
     "the refusal names the snapshot location, not the keyed one");

($st, $out) = nginx_config_test(
    "$broker$key\nserver { listen 127.0.0.1:1999;\n"
    . "location = /ws { devmon_ws; }\n"
    . "location = /api/snapshot { devmon_snapshot; } }");
is($st, 0, "a key at the http level reaches both locations by merge")
    or diag($out);

($st, $out) = nginx_config_test(
    "${broker}server { listen 127.0.0.1:1999;\n"
    . "location = /status { devmon_status; } }");
is($st, 0, "devmon_status needs no key") or diag($out);

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('http_config', "devmon_redis unix:$REDIS->{socket};\n"
                                     . ($block->http_config // ''));
});

# a token is tried against at most 8 keys: 9 kid-less ones cannot all be
my $nine = join '', map { $keys->hs_secret("many$_.key", 32);
                          "devmon_jwt_key hs256 " . $keys->dir
                          . "/many$_.key;\n" } 1 .. 9;

($st, $out) = nginx_config_test(
    "${broker}server { listen 127.0.0.1:1999;\n"
    . "location = /ws { devmon_ws;\n$nine } }");
isnt($st, 0, "nginx -t refuses 9 kid-less HS256 keys in one location");
like($out, qr/\[emerg\] keys of location "\/ws": 9 HS256 keys without a kid/,
     "the refusal names the location and the algorithm");

$nine =~ s/(many(\d)\.key);/$1 kid=k$2;/g;

($st, $out) = nginx_config_test(
    "${broker}server { listen 127.0.0.1:1999;\n"
    . "location = /ws { devmon_ws;\n$nine } }");
is($st, 0, "9 HS256 keys with distinct kids are accepted") or diag($out);

run_tests();

__DATA__

=== TEST 1: the module is loaded and serves devmon_ws (plain GET: 426)
--- config
    location = /ws {
        devmon_ws;
        devmon_jwt_key hs256 $TEST_NGINX_DEVMON_KEYS/hs256.key;
    }
--- request
GET /ws
--- error_code: 426
--- no_error_log
[error]



=== TEST 2: a bad directive value stops nginx
--- config
    location = /ws {
        devmon_ws;
        devmon_jwt_key hs256 $TEST_NGINX_DEVMON_KEYS/hs256.key;
        devmon_max_message_size 100;
    }
--- must_die
--- no_error_log
[error]



=== TEST 3: an origin without a scheme stops nginx
--- config
    location = /ws {
        devmon_ws;
        devmon_jwt_key hs256 $TEST_NGINX_DEVMON_KEYS/hs256.key;
        devmon_allow_origin ftp://example.com;
    }
--- must_die
--- no_error_log
[error]



=== TEST 4: a devmon_ws location without a key stops nginx
--- config
    location = /ws {
        devmon_ws;
    }
--- must_die
--- no_error_log
[error]
