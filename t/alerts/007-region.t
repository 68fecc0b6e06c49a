#!/usr/bin/perl
# A region whose own connectivity check fails: its device alerts are held
# back and one region alert is sent instead; when it is back, what is still
# wrong is told.  Events are published with devmon-publish, as any publisher
# may.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep time);
use AlertTest;

my $pub = root() . '/probed/devmon-publish';
ok(-x $pub, 'devmon-publish is built') or BAIL_OUT('make -C probed');

my $redis = start_redis(6456);
my $smtp = start_smtp(7208);

redis($redis, 'SADD', 'devmon:{acme}:users', 'alice');
redis($redis, 'HSET', 'devmon:{acme}:user:alice', 'email',
      'alice@test.invalid');
redis($redis, 'HSET', 'devmon:{acme}:devices', 'd1',
      '{"d":"d1","n":"Door 1","a":"127.0.0.2","rg":[],"k":["tcp"]}');

start_alertd(name => 'g', redis => $redis, accounts => ['acme'],
             smtp_port => 7208, hold => 0, window => 2);
ok(wait_for(10, sub { redis($redis, 'XINFO', 'GROUPS', 'devmon:{acme}:ev')
                      =~ /alertd/ }), 'consumer group ready');

sub publish {
    my ($field, $json) = @_;
    system("$pub -p 6456 acme '$field' '$json' >/dev/null") == 0
        or die "devmon-publish failed";
}

sub now_ms { int(time * 1000) }

sub state {
    my ($d, $st, $was, $er) = @_;
    publish("$d|fra|state", sprintf('{"type":"state","d":"%s","r":"fra",'
            . '"t":%d,"st":"%s","was":"%s"%s}', $d, now_ms(), $st, $was,
            $er ? qq(,"er":"$er") : ''));
}

sub heartbeat {
    my $ok = shift;
    publish('|fra|hb', sprintf('{"type":"region","r":"fra","t":%d,'
            . '"iv":1000,"ok":%s}', now_ms(), $ok ? 'true' : 'false'));
}

state('d1', 'up', 'unknown');
state('d2', 'up', 'unknown');
heartbeat(1);
sleep 1;

# the region loses its uplink: its devices look down, then its own check
# fails inside the same window
state('d1', 'down', 'up', 'timeout');
state('d2', 'down', 'up', 'timeout');
heartbeat(0);

ok(wait_for(10, sub { scalar(mails($smtp->{dir})) >= 1 }),
   'an alert arrives');
sleep 3;
my @m = mails($smtp->{dir});
is(scalar(@m), 1, 'one alert only');
like($m[0]{head}{subject} // '', qr/REGION CHECK FAILED: region fra/,
     'it is the region alert');
like($m[0]{body}, qr/held back/, 'it says device alerts are held back');

# while blind: more changes, none told
state('d1', 'up', 'down');
heartbeat(0);
sleep 3;
is(scalar(mails($smtp->{dir})), 1, 'nothing more while the region is down');

heartbeat(1);
ok(wait_for(10, sub { scalar(mails($smtp->{dir})) >= 3 }),
   'the region comes back');
sleep 3;
@m = mails($smtp->{dir});
is(scalar(@m), 3, 'two more alerts');
my @subj = sort map { $_->{head}{subject} } @m[1, 2];
like($subj[0], qr/OFFLINE: d2/, 'd2, still down, is told');
like($subj[1], qr/REGION CHECK OK: region fra/, 'the region is ok again');

stop_all();
done_testing();
