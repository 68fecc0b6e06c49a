#!/usr/bin/perl
# A flapping device: one offline alert, one flapping notice, one recovery
# once it is stable again; nothing per bounce.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep time);
use AlertTest;

my $redis = start_redis(6451);
my $smtp = start_smtp(7202);

redis($redis, 'SADD', 'devmon:{acme}:users', 'alice');
redis($redis, 'HSET', 'devmon:{acme}:user:alice', 'email',
      'alice@test.invalid', 'flapping', '1');

start_alertd(name => 'f', redis => $redis, accounts => ['acme'],
             smtp_port => 7202, hold => 4, window => 1, cooldown => 120);
ok(wait_for(10, sub { redis($redis, 'XINFO', 'GROUPS', 'devmon:{acme}:ev')
                      =~ /alertd/ }), 'consumer group ready');

my $target = target_on(7211);
start_probed(name => 'f', redis => $redis, flap_threshold => 3,
             flap_halflife => 10, accounts => [{
    id => 'acme',
    devices => [{ id => 'sw1', address => '127.0.0.1',
                  checks => [{ kind => 'tcp', port => 7211 }] }],
}]);

ok(wait_for(10, sub { redis($redis, 'HGET', 'devmon:{acme}:state',
                            'sw1|t1|state') =~ /"st":"up"/ }),
   'device up');

# five bounces, two seconds each, then stable
for my $i (1 .. 5) {
    target_off($target);
    sleep 2;
    $target = target_on(7211);
    sleep 2;
}

my $changes = () = redis($redis, 'XRANGE', 'devmon:{acme}:ev', '-', '+')
                   =~ /"type":"state"[^}]*"was":"(?:up|down)"/g;
cmp_ok($changes, '>=', 8, "probed published the bounces ($changes changes)");

ok(wait_for(40, sub { scalar(mails($smtp->{dir})) >= 3 }),
   'three emails arrive once the device is stable');
sleep 3;

my @m = mails($smtp->{dir});
is(scalar(@m), 3, 'exactly three emails');
like($m[0]{head}{subject} // '', qr/OFFLINE.*sw1/, '1: offline');
like($m[1]{head}{subject} // '', qr/FLAPPING.*sw1/, '2: flapping notice');
like($m[2]{head}{subject} // '', qr/RECOVERED.*sw1/, '3: recovery');
like($m[2]{body} // '', qr/stable after flapping/,
     'the recovery says it is stable after flapping');

stop_all();
done_testing();
