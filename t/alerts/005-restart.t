#!/usr/bin/perl
# alertd and probed restarted during a cooldown: no duplicate alert, a
# pending recovery is still sent, and at the end of the cooldown the state
# that differs from the one last told is told.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep time);
use AlertTest;

my $redis = start_redis(6454);
my $smtp = start_smtp(7206);

redis($redis, 'SADD', 'devmon:{acme}:users', 'alice');
redis($redis, 'HSET', 'devmon:{acme}:user:alice', 'email',
      'alice@test.invalid');

my %ao = (name => 'r', redis => $redis, accounts => ['acme'],
          smtp_port => 7206, hold => 3, window => 1, cooldown => 25);
my %po = (name => 'r', redis => $redis, accounts => [{
    id => 'acme',
    devices => [{ id => 'gw', address => '127.0.0.1',
                  checks => [{ kind => 'tcp', port => 7214 }] }],
}]);

my $alertd = start_alertd(%ao);
ok(wait_for(10, sub { redis($redis, 'XINFO', 'GROUPS', 'devmon:{acme}:ev')
                      =~ /alertd/ }), 'consumer group ready');
my $target = target_on(7214);
my $probed = start_probed(%po);
ok(wait_for(10, sub { redis($redis, 'HGET', 'devmon:{acme}:state',
                            'gw|t1|state') =~ /"st":"up"/ }), 'device up');

target_off($target);
ok(wait_for(15, sub { scalar(mails($smtp->{dir})) >= 1 }), 'offline alert');
my $t_offline = time;

# both daemons go away; the device comes back meanwhile
stop_proc($alertd);
stop_proc($probed);
$target = target_on(7214);
$probed = start_probed(%po);
ok(wait_for(10, sub { redis($redis, 'HGET', 'devmon:{acme}:state',
                            'gw|t1|state') =~ /"st":"up"/ }),
   'restarted probed sees the device up');

# alertd takes the change in, then dies hard during the recovery hold
$alertd = start_alertd(%ao);
ok(wait_for(10, sub { redis($redis, 'HGET', 'devmon:{acme}:alert:dev',
                            'gw|t1') =~ /"cur":1,.*"due":[1-9]/ }),
   'alertd saved the pending recovery in Redis');
stop_proc($alertd, 'KILL');
is(scalar(mails($smtp->{dir})), 1, 'no recovery sent yet (hold)');

$alertd = start_alertd(%ao);
ok(wait_for(15, sub { scalar(mails($smtp->{dir})) >= 2 }),
   'the pending recovery is sent after the restart');
my @m = mails($smtp->{dir});
like($m[1]{head}{subject} // '', qr/RECOVERED.*gw/, 'it is the recovery');

# down again inside the cooldown, and both daemons restart once more
target_off($target);
sleep 3;
stop_proc($alertd);
stop_proc($probed);
$probed = start_probed(%po);
$alertd = start_alertd(%ao);
sleep 4;

@m = mails($smtp->{dir});
is(scalar(@m), 2, 'no second offline alert inside the cooldown');
is((grep { $_->{head}{subject} =~ /OFFLINE/ } @m), 1,
   'still one offline alert in all (no duplicate after restarts)');

# the cooldown ends with the device down: the user must learn it
ok(wait_for(30, sub { scalar(mails($smtp->{dir})) >= 3 }),
   'at the end of the cooldown the current state is told');
my $waited = time - $t_offline;
@m = mails($smtp->{dir});
like($m[2]{head}{subject} // '', qr/OFFLINE.*gw/, 'it is an offline alert');
cmp_ok($waited, '>=', 20, sprintf('not before the cooldown ended (%.1fs)',
                                  $waited));
sleep 2;
is(scalar(mails($smtp->{dir})), 3, 'three emails in all');

stop_all();
done_testing();
