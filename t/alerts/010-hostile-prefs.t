#!/usr/bin/perl
# Preferences come from Redis, where anyone with access can write: an
# address with a line break never reaches a header or the SMTP envelope
# (the user's email is skipped, with a log line), a webhook URL's secret
# never reaches the log, a 4xx answer is not retried, and the attempt count
# of a failing webhook is kept in Redis.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep time);
use AlertTest;

my $pub = root() . '/probed/devmon-publish';
ok(-x $pub, 'devmon-publish is built') or BAIL_OUT('make -C probed');

my $redis = start_redis(6462);
my $smtp = start_smtp(7232);
my $hook = start_webhook(7233);

redis($redis, 'SADD', 'devmon:{acme}:users', 'mallory', 'bob', 'hooky');
redis($redis, 'HSET', 'devmon:{acme}:user:mallory', 'email',
      "mallory\@test.invalid\r\nBcc: evil\@test.invalid");
redis($redis, 'HSET', 'devmon:{acme}:user:bob', 'email', 'bob@test.invalid');
redis($redis, 'HSET', 'devmon:{acme}:user:hooky', 'channels', 'webhook',
      'webhook', 'http://127.0.0.1:7233/T0/SECRET-TOKEN?key=hunter2');
redis($redis, 'HSET', 'devmon:{acme}:devices', 'd1',
      '{"d":"d1","n":"Door 1","a":"127.0.0.2","rg":[],"k":["tcp"]}');
open(my $st, '>', "$hook->{dir}/status") or die;
print $st "404\n";
close $st;

my $alertd = start_alertd(name => 'h', redis => $redis, accounts => ['acme'],
                          smtp_port => 7232, hold => 0, window => 0.5);
ok(wait_for(10, sub { redis($redis, 'XINFO', 'GROUPS', 'devmon:{acme}:ev')
                      =~ /alertd/ }), 'consumer group ready');

sub state {
    my ($st, $was) = @_;
    my $json = sprintf('{"type":"state","d":"d1","r":"fra","t":%d,'
                       . '"st":"%s","was":"%s","er":"refused"}',
                       int(time * 1000), $st, $was);
    system("$pub -p 6462 acme 'd1|fra|state' '$json' >/dev/null") == 0
        or die "devmon-publish failed";
}

state('up', 'unknown');
sleep 0.5;
state('down', 'up');

ok(wait_for(10, sub { scalar(mails($smtp->{dir})) >= 1 }),
   'the user with a good address gets the alert');
sleep 3;

my @m = mails($smtp->{dir});
is(scalar(@m), 1, 'exactly one email: the hostile address got none');
is($m[0]{head}{'x-sink-to'}, 'bob@test.invalid', 'it went to bob only');
ok(!grep({ $_->{raw} =~ /^Bcc:/mi || $_->{raw} =~ /evil/ } @m),
   'no injected header, no injected recipient');

my $log = slurp($alertd->{log});
like($log, qr/user "mallory": invalid "email" preference ignored/,
     'the skipped preference is logged');
unlike($log, qr/evil/, 'the hostile value is not logged');
unlike($log, qr/SECRET-TOKEN|hunter2/, 'the webhook secret is not logged');
like($log, qr{dropped: HTTP status 404 \(retrying cannot help\)},
     'a 404 is permanent');
like($log, qr{to http://127\.0\.0\.1:7233/\.\.\.}, 'the log names the host');

my @hits = split /\n/, slurp("$hook->{dir}/hits");
is(scalar(@hits), 1, 'the 404 was asked once, not retried');
is(redis($redis, 'HLEN', 'devmon:{acme}:alert:outbox'), '0',
   'the outbox is empty');

# a 503 is retried, and the attempt count lands in Redis
open($st, '>', "$hook->{dir}/status") or die;
print $st "503\n";
close $st;
state('up', 'down');

ok(wait_for(10, sub { my @h = split /\n/, slurp("$hook->{dir}/hits");
                      @h >= 3 }), 'a 503 is retried');
my $entry = wait_for(5, sub {
    my @kv = split /\n/, redis($redis, 'HGETALL', 'devmon:{acme}:alert:outbox');
    my ($e) = grep { /"ch":"webhook"/ && /"n":[1-9]/ } @kv;
    $e });
ok($entry, 'the webhook\'s attempt count is saved in the outbox');
like($entry // '', qr/"w":[1-9]\d+/, '... with the time of the next try');

stop_all();
done_testing();
