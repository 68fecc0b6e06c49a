#!/usr/bin/perl
# Many devices of one account change at once (their upstream failed): each
# user gets one digest, not one message per device.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep);
use AlertTest;

my $redis = start_redis(6453);
my $smtp = start_smtp(7205);

for my $u (qw(alice bob)) {
    redis($redis, 'SADD', 'devmon:{acme}:users', $u);
    redis($redis, 'HSET', "devmon:{acme}:user:$u", 'email',
          "$u\@test.invalid");
}

start_alertd(name => 's', redis => $redis, accounts => ['acme'],
             smtp_port => 7205, hold => 1, window => 3, threshold => 5);
ok(wait_for(10, sub { redis($redis, 'XINFO', 'GROUPS', 'devmon:{acme}:ev')
                      =~ /alertd/ }), 'consumer group ready');

# eight devices behind one upstream: the target they all reach
my $target = target_on(7213);
start_probed(name => 's', redis => $redis, accounts => [{
    id => 'acme',
    devices => [map { { id => "cam$_", address => "127.0.0.1",
                        checks => [{ kind => 'tcp', port => 7213 }] } }
                1 .. 8],
}]);
ok(wait_for(10, sub { my $s = redis($redis, 'HGETALL',
                                    'devmon:{acme}:state');
                      (() = $s =~ /"type":"state"[^}]*"st":"up"/g) == 8 }),
   'eight devices up');

target_off($target);
ok(wait_for(20, sub { scalar(mails($smtp->{dir})) >= 2 }),
   'mail arrives after the upstream fails');
sleep 4;

my @m = mails($smtp->{dir});
is(scalar(@m), 2, 'two emails: one per user');
my %to = map { $_->{head}{'x-sink-to'} => $_ } @m;
is_deeply([sort keys %to], ['alice@test.invalid', 'bob@test.invalid'],
          'one for alice, one for bob');

for my $u (sort keys %to) {
    my $b = $to{$u}{body};
    like($to{$u}{head}{subject}, qr/acme: 8 alerts \(digest\)/,
         "$u: digest subject counts the alerts");
    is((() = $b =~ /^- OFFLINE: cam\d/mg), 8, "$u: digest lists 8 devices");
}

$target = target_on(7213);
ok(wait_for(20, sub { scalar(mails($smtp->{dir})) >= 4 }),
   'recoveries arrive');
sleep 4;
@m = mails($smtp->{dir});
is(scalar(@m), 4, 'again one digest per user for the recoveries');
is((() = $m[-1]{body} =~ /^- RECOVERED: cam\d/mg), 8,
   'the recovery digest lists 8 devices');

stop_all();
done_testing();
