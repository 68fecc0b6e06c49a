#!/usr/bin/perl
# The account stream is lost (deleted, Redis restarted without it) and a
# publisher makes it anew before alertd has its consumer group back: the
# group is created from the stream's first entry, so the state change
# published in between still gives its alert.  And a HUP reloads alertd's
# configuration instead of killing it.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep time);
use AlertTest;

my $pub = root() . '/probed/devmon-publish';
ok(-x $pub, 'devmon-publish is built') or BAIL_OUT('make -C probed');

my $redis = start_redis(6463);
my $smtp = start_smtp(7234);

redis($redis, 'SADD', 'devmon:{acme}:users', 'alice');
redis($redis, 'HSET', 'devmon:{acme}:user:alice', 'email',
      'alice@test.invalid');

my $alertd = start_alertd(name => 'n', redis => $redis, accounts => ['acme'],
                          smtp_port => 7234, hold => 0, window => 0.5);
ok(wait_for(10, sub { redis($redis, 'XINFO', 'GROUPS', 'devmon:{acme}:ev')
                      =~ /alertd/ }), 'consumer group ready');
sleep 0.5;

sub state {
    my ($st, $was) = @_;
    my $json = sprintf('{"type":"state","d":"d1","r":"fra","t":%d,'
                       . '"st":"%s","was":"%s","er":"refused"}',
                       int(time * 1000), $st, $was);
    system("$pub -p 6463 acme 'd1|fra|state' '$json' >/dev/null") == 0
        or die "devmon-publish failed";
}

# alertd is held still while the stream goes and comes back with an entry
kill 'STOP', $alertd->{pid};
redis($redis, 'DEL', 'devmon:{acme}:ev');
state('down', 'up');
is(redis($redis, 'XINFO', 'GROUPS', 'devmon:{acme}:ev'), '',
   'the new stream has no consumer group yet');
kill 'CONT', $alertd->{pid};

ok(wait_for(10, sub { redis($redis, 'XINFO', 'GROUPS', 'devmon:{acme}:ev')
                      =~ /alertd/ }), 'alertd creates its group again');
ok(wait_for(10, sub { scalar(mails($smtp->{dir})) >= 1 }),
   'the change published in between is alerted');
my @m = mails($smtp->{dir});
like($m[0]{head}{subject} // '', qr/OFFLINE.*d1/, 'it is the offline alert');
like(slurp($alertd->{log}), qr/creating the consumer group again/,
     'the recovery is logged');

# a HUP reloads the configuration and does not stop alertd
kill 'HUP', $alertd->{pid};
ok(wait_for(5, sub { slurp($alertd->{log}) =~ /configuration reloaded/ }),
   'SIGHUP reloads the configuration');
sleep 0.3;
ok(kill(0, $alertd->{pid}) && waitpid($alertd->{pid}, 1) == 0,
   'alertd still runs after SIGHUP');

stop_all();
done_testing();
