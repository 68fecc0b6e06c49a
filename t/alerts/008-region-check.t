#!/usr/bin/perl
# probed's own region check ("region_check"): when the region cannot reach
# its check targets, its heartbeat says "ok":false, and alertd sends one
# region alert instead of an offline alert per device.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep);
use AlertTest;

my $redis = start_redis(6457);
my $smtp = start_smtp(7209);

redis($redis, 'SADD', 'devmon:{acme}:users', 'alice');
redis($redis, 'HSET', 'devmon:{acme}:user:alice', 'email',
      'alice@test.invalid');

start_alertd(name => 'c', redis => $redis, accounts => ['acme'],
             smtp_port => 7209, hold => 1, window => 3);
ok(wait_for(10, sub { redis($redis, 'XINFO', 'GROUPS', 'devmon:{acme}:ev')
                      =~ /alertd/ }), 'consumer group ready');

my $uplink = target_on(7216);
my $dev = target_on(7217);
start_probed(name => 'c', redis => $redis,
             extra => { region_check => ['127.0.0.1:7216'] },
             accounts => [{
    id => 'acme',
    devices => [map { { id => "ap$_", address => '127.0.0.1',
                        checks => [{ kind => 'tcp', port => 7217 }] } }
                1 .. 2],
}]);

ok(wait_for(10, sub { redis($redis, 'HGET', 'devmon:{acme}:state',
                            '|t1|hb') =~ /"ok":true/ }),
   'the heartbeat carries "ok":true while the check target answers');

target_off($uplink);
target_off($dev);

ok(wait_for(10, sub { redis($redis, 'HGET', 'devmon:{acme}:state',
                            '|t1|hb') =~ /"ok":false/ }),
   'the heartbeat says "ok":false once it does not');
ok(wait_for(15, sub { scalar(mails($smtp->{dir})) >= 1 }), 'an alert');
sleep 4;

my @m = mails($smtp->{dir});
is(scalar(@m), 1, 'one alert only');
like($m[0]{head}{subject} // '', qr/REGION CHECK FAILED: region t1/,
     'the region alert, no device alerts');

$uplink = target_on(7216);
$dev = target_on(7217);
ok(wait_for(15, sub { scalar(mails($smtp->{dir})) >= 2 }),
   'the region comes back');
sleep 4;
@m = mails($smtp->{dir});
is(scalar(@m), 2, 'one more alert, nothing for the devices (they are up)');
like($m[1]{head}{subject} // '', qr/REGION CHECK OK: region t1/,
     'the region ok alert');

stop_all();
done_testing();
