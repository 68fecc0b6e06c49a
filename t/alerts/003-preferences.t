#!/usr/bin/perl
# Per-user preferences and channels: recovery off, everything off, a change
# made with devmon-alertctl that applies to the next alert, webhooks (JSON
# and Slack bodies).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep time);
use AlertTest;

my $root = root();
my $ctl = "$root/alertd/devmon-alertctl";
ok(-x $ctl, 'devmon-alertctl is built') or BAIL_OUT('make -C alertd');

my $redis = start_redis(6452);
my $smtp = start_smtp(7203);
my $hook = start_webhook(7204);

sub ctl {
    my $out = `$ctl -p 6452 @_ 2>&1`;
    return ($? >> 8, $out);
}

my ($rc, $out) = ctl('user set acme alice email=alice@test.invalid');
is($rc, 0, 'alertctl sets a user');
like($out, qr/^alice: email=alice\@test\.invalid .*offline=1 recovery=1 /m,
     'alertctl shows the defaults (offline and recovery on)');
ctl('user set acme bob email=bob@test.invalid recovery=0');
ctl('user set acme carol email=carol@test.invalid none');
ctl('user set acme dave email=dave@test.invalid none');
ctl("user set acme erin webhook=http://127.0.0.1:7204/erin channels=webhook");
ctl("user set acme frank webhook=http://127.0.0.1:7204/frank "
    . "webhook_format=slack channels=webhook");

($rc, $out) = ctl('user set acme bob colour=blue');
isnt($rc, 0, 'alertctl refuses an unknown key');
($rc, $out) = ctl('user show acme carol');
like($out, qr/offline=0 recovery=0 degraded=0 flapping=0 region=0/,
     '"none" turns every kind off');
is(redis($redis, 'HGET', 'devmon:{acme}:user:bob', 'recovery'), '0',
   'preferences live in devmon:{A}:user:{U}');

start_alertd(name => 'p', redis => $redis, accounts => ['acme'],
             smtp_port => 7203, hold => 1, window => 1);
ok(wait_for(10, sub { redis($redis, 'XINFO', 'GROUPS', 'devmon:{acme}:ev')
                      =~ /alertd/ }), 'consumer group ready');

my $target = target_on(7212);
start_probed(name => 'p', redis => $redis, accounts => [{
    id => 'acme',
    devices => [{ id => 'db1', name => 'Database', address => '127.0.0.1',
                  checks => [{ kind => 'tcp', port => 7212 }] }],
}]);
ok(wait_for(10, sub { redis($redis, 'HGET', 'devmon:{acme}:state',
                            'db1|t1|state') =~ /"st":"up"/ }), 'device up');

my $t_off = int(time * 1000);
target_off($target);
ok(wait_for(15, sub { scalar(mails($smtp->{dir})) >= 2
                      && scalar(webhooks($hook->{dir})) >= 2 }),
   'offline alerts arrive');
sleep 2;

my %to = map { $_->{head}{'x-sink-to'} => 1 } mails($smtp->{dir});
is_deeply([sort keys %to], ['alice@test.invalid', 'bob@test.invalid'],
          'offline: alice and bob by email, carol and dave nothing');

my @h = webhooks($hook->{dir});
is(scalar(@h), 2, 'two webhook posts (erin, frank)');
my ($json) = grep { exists $_->{kind} } @h;
my ($slack) = grep { exists $_->{text} && !exists $_->{kind} } @h;
ok($json && $json->{kind} eq 'offline' && $json->{device} eq 'db1'
   && $json->{address} eq '127.0.0.1' && $json->{account} eq 'acme'
   && $json->{region} eq 't1' && $json->{er} eq 'refused' && $json->{t} > 0,
   'JSON webhook body carries kind, device, address, account, region, '
   . 'reason, time');
# probed publishes promptly, without "t": the time is the stream id's
cmp_ok($json && $json->{t} // 0, '>=', $t_off,
       'the alert time is when the change was published, not before');
cmp_ok($json && $json->{t} // 0, '<', $t_off + 10000,
       'the alert time is within the 10 s the change took to arrive');
like($slack->{text} // '', qr/OFFLINE.*db1/, 'Slack body has a text');

# dave changes his mind while the device is down: no restart
($rc, $out) = ctl('user set acme dave all');
like($out, qr/recovery=1/, 'dave turns alerts on');

$target = target_on(7212);
ok(wait_for(15, sub { scalar(mails($smtp->{dir})) >= 4 }),
   'recovery alerts arrive');
sleep 3;

my @m = mails($smtp->{dir});
my @rec = map { $_->{head}{'x-sink-to'} }
          grep { $_->{head}{subject} =~ /RECOVERED/ } @m;
is_deeply([sort @rec], ['alice@test.invalid', 'dave@test.invalid'],
          'recovery: alice and dave (bob has recovery off, carol none)');
is(scalar(@m), 4, 'four emails in all');
ok(!grep({ $_->{head}{'x-sink-to'} =~ /carol/ } @m), 'carol got nothing');
is(scalar(webhooks($hook->{dir})), 4, 'webhooks: offline and recovery each');

stop_all();
done_testing();
