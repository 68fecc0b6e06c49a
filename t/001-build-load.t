# The module builds, loads into Debian's nginx with load_module, and a
# broken configuration stops nginx with a message naming file, line and
# reason.

use Test::Nginx::Socket;
use Devmon::Util;

repeat_each(1);
no_shuffle();

# blocks: 3 each; outside blocks: 1 (.so) + 3 * 2 (nginx -t)
plan tests => repeat_each() * (3 * blocks()) + 7;

# where nginx says a config error is
my $at = qr/ in \S*nginx\.conf:\d+/;

my $so = $ENV{TEST_NGINX_LOAD_MODULES} // '';
ok($so =~ /ngx_http_devmon_module\.so/ && -f $so,
   "TEST_NGINX_LOAD_MODULES names the built module ($so)");

my ($st, $out) = nginx_config_test(
    "server { listen 127.0.0.1:1999; location = /ws { devmon_ws; } }");
is($st, 0, "nginx -t accepts devmon_ws") or diag($out);
like($out, qr/test is successful/, "nginx -t says the test is successful");

($st, $out) = nginx_config_test(
    "server { listen 127.0.0.1:1999;\n"
    . "location = /ws { devmon_ws; devmon_max_message_size 100; } }");
isnt($st, 0, "nginx -t refuses devmon_max_message_size below 125");
like($out, qr/\[emerg\] "devmon_max_message_size" must be at least 125$at/,
     "the refusal names the directive, the reason, file and line");

($st, $out) = nginx_config_test("devmon_ws;");
isnt($st, 0, "nginx -t refuses devmon_ws outside a location");
like($out, qr/\[emerg\] "devmon_ws" directive is not allowed here$at/,
     "the refusal says where devmon_ws is not allowed");

run_tests();

__DATA__

=== TEST 1: the module is loaded and serves devmon_ws (plain GET: 426)
--- config
    location = /ws {
        devmon_ws;
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
        devmon_max_message_size 100;
    }
--- must_die
--- no_error_log
[error]



=== TEST 3: an origin without a scheme stops nginx
--- config
    location = /ws {
        devmon_ws;
        devmon_allow_origin ftp://example.com;
    }
--- must_die
--- no_error_log
[error]
