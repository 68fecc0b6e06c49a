#!/usr/bin/perl
# The mail server is down: the alert is retried and delivered when it comes
# back, and probed's results keep arriving on schedule meanwhile.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep time);
use AlertTest;

my $redis = start_redis(6455);

redis($redis, 'SADD', 'devmon:{acme}:users', 'alice');
redis($redis, 'HSET', 'devmon:{acme}:user:alice', 'email',
      'alice@test.invalid');

my $alertd = start_alertd(name => 'm', redis => $redis, accounts => ['acme'],
                          smtp_port => 7207, hold => 1, window => 1);
ok(wait_for(10, sub { redis($redis, 'XINFO', 'GROUPS', 'devmon:{acme}:ev')
                      =~ /alertd/ }), 'consumer group ready');
my $target = target_on(7215);
start_probed(name => 'm', redis => $redis, accounts => [{
    id => 'acme',
    devices => [{ id => 'nas', address => '127.0.0.1',
                  checks => [{ kind => 'tcp', port => 7215 }] }],
}]);
ok(wait_for(10, sub { redis($redis, 'HGET', 'devmon:{acme}:state',
                            'nas|t1|state') =~ /"st":"up"/ }), 'device up');

my $t0 = int(time * 1000);
target_off($target);

ok(wait_for(15, sub { slurp($alertd->{log}) =~ /failed \(attempt 2\)/ }),
   'alertd retries while no mail server answers');
is(redis($redis, 'HLEN', 'devmon:{acme}:alert:outbox'), '1',
   'the message waits in the outbox in Redis');
sleep 3;

my $t1 = int(time * 1000);
# an event's time: its "t" if it has one, else its stream id's ms
my (@t, $ms);
for (split /\n/, redis($redis, 'XRANGE', 'devmon:{acme}:ev', $t0, $t1)) {
    if (/^(\d+)-\d+$/) {
        $ms = $1;
    } elsif (/"d":"nas","r":"t1","k":"tcp"/) {
        push @t, /"t":(\d+)/ ? $1 : $ms;
    }
}
my $max_gap = 0;
for my $i (1 .. $#t) {
    $max_gap = $t[$i] - $t[$i - 1] if $t[$i] - $t[$i - 1] > $max_gap;
}
cmp_ok(scalar(@t), '>=', int(($t1 - $t0) / 1000) - 1,
       scalar(@t) . ' results in ' . ($t1 - $t0) . ' ms: one per second');
cmp_ok($max_gap, '<=', 1500, "no result came late (largest gap $max_gap ms)");

my $smtp = start_smtp(7207);
ok(wait_for(15, sub { scalar(mails($smtp->{dir})) >= 1 }),
   'the alert is delivered once the mail server is back');
sleep 3;
my @m = mails($smtp->{dir});
is(scalar(@m), 1, 'delivered once');
like($m[0]{head}{subject} // '', qr/OFFLINE.*nas/, 'the offline alert');
is(redis($redis, 'HLEN', 'devmon:{acme}:alert:outbox'), '0',
   'the outbox is empty');

stop_all();
done_testing();
