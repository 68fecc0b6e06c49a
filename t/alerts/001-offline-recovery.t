#!/usr/bin/perl
# Offline then recovery: exactly two emails, and they say what happened.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use AlertTest;

my $redis = start_redis(6450);
my $smtp = start_smtp(7201);

redis($redis, 'SADD', 'devmon:{acme}:users', 'alice');
redis($redis, 'HSET', 'devmon:{acme}:user:alice', 'email',
      'alice@test.invalid');

my $alertd = start_alertd(name => 'a', redis => $redis, accounts => ['acme'],
                          smtp_port => 7201, hold => 1, window => 1);
ok(wait_for(10, sub { redis($redis, 'XINFO', 'GROUPS', 'devmon:{acme}:ev')
                      =~ /alertd/ }),
   'alertd created its consumer group on the account stream');

my $target = target_on(7210);
my $probed = start_probed(name => 'a', redis => $redis, accounts => [{
    id => 'acme',
    devices => [{ id => 'web1', name => 'Web server 1',
                  address => '127.0.0.1',
                  checks => [{ kind => 'tcp', port => 7210 }] }],
}]);

ok(wait_for(10, sub { redis($redis, 'HGET', 'devmon:{acme}:state',
                            'web1|t1|state') =~ /"st":"up"/ }),
   'probed sees the device up');

my $t_off = time;
target_off($target);

ok(wait_for(15, sub { scalar(mails($smtp->{dir})) >= 1 }),
   'an email arrives after the device goes down');

my @m = mails($smtp->{dir});
my $off = $m[0];
like($off->{head}{subject}, qr/OFFLINE.*web1.*Web server 1.*acme\/t1/,
     'offline subject names the device, account and region');
is($off->{head}{'x-sink-to'}, 'alice@test.invalid', 'sent to the user');
like($off->{body}, qr/^Address:\s+127\.0\.0\.1$/m, 'names the address');
like($off->{body}, qr/^Account:\s+acme$/m, 'names the account');
like($off->{body}, qr/^Region:\s+t1$/m, 'names the region');
like($off->{body}, qr/^Reason:\s+refused$/m, 'gives the reason');
like($off->{body}, qr/^Changed:\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/m,
     'gives the time of the change');

sleep 3;
$target = target_on(7210);

ok(wait_for(15, sub { scalar(mails($smtp->{dir})) >= 2 }),
   'a second email arrives after the device is back');

@m = mails($smtp->{dir});
my $rec = $m[1];
like($rec->{head}{subject}, qr/RECOVERED.*web1/, 'recovery subject');
like($rec->{body}, qr/^Down for:\s+(\d+)s$/m, 'says how long it was down');
my ($down) = $rec->{body} =~ /^Down for:\s+(\d+)s$/m;
ok(defined $down && $down >= 3 && $down <= 12,
   "down time is plausible (${\ ($down // 'none')} s)");
like($rec->{body}, qr/^Address:\s+127\.0\.0\.1$/m, 'recovery names the address');

sleep 4;
is(scalar(mails($smtp->{dir})), 2, 'exactly two emails in all');
is(redis($redis, 'HLEN', 'devmon:{acme}:alert:outbox'), '0',
   'the outbox is empty once delivered');

stop_all();
done_testing();
