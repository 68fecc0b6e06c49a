#!/usr/bin/perl
# A Redis link is up only once AUTH and SELECT succeeded: with a wrong
# password or a database that does not exist, probed and alertd say so
# once, reconnect slowly (not in a storm), write nothing (not to db 0
# either) and, once the password is right, publish each result once.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep time);
use AlertTest;

sub conns {
    my ($r, @auth) = @_;
    my ($n) = redis($r, @auth, 'INFO', 'stats')
              =~ /total_connections_received:(\d+)/;
    return $n // -1;
}

sub count_lines {
    my ($file, $re) = @_;
    return scalar(grep { /$re/ } split /\n/, slurp($file));
}

my $devices = [{
    id => 'acme',
    devices => [{ id => 'web1', address => '127.0.0.1',
                  checks => [{ kind => 'tcp', port => 7231 }] }],
}];

# a name instead of an address would block the loop in getaddrinfo()
my $bad = write_json(tmpdir() . '/alertd-name.json', {
    accounts => ['acme'], redis => { host => 'localhost' } });
my $out = `${\ root()}/alertd/devmon-alertd -t -c $bad 2>&1`;
isnt($? >> 8, 0, 'alertd refuses a Redis host name');
like($out, qr/host: "localhost" is not a numeric/, '... and says why');

# --- wrong password ---------------------------------------------------
my $r1 = start_redis(6460);
my @auth = ('-a', 'right-pw', '--no-auth-warning');
redis($r1, 'CONFIG', 'SET', 'requirepass', 'right-pw');
target_on(7231);

my $base = conns($r1, @auth);
my $a1 = start_alertd(name => 'pw', redis => $r1, accounts => ['acme'],
                      smtp_port => 7230,
                      extra => { redis => { host => '127.0.0.1',
                                            port => 6460,
                                            password => 'wrong-pw' } });
my $p1 = start_probed(name => 'pw', redis => $r1, accounts => $devices,
                      extra => { redis => { host => '127.0.0.1',
                                            port => 6460,
                                            password => 'wrong-pw' } });
sleep 4;
my $n = conns($r1, @auth) - $base - 1;
ok($n >= 2 && $n <= 8, "wrong password: $n connections in 4 s, not a storm");
is(redis($r1, @auth, 'DBSIZE'), '0', 'wrong password: nothing written');

my $al = count_lines($a1->{log}, qr/AUTH failed: WRONGPASS/);
my $pl = count_lines($p1->{log}, qr/AUTH failed: WRONGPASS/);
ok($al >= 1 && $al <= 2, "alertd says AUTH failed, once per link ($al)");
is($pl, 1, 'probed says AUTH failed once');

# the operator fixes it: the daemons come in at their next (slow) retry
redis($r1, @auth, 'CONFIG', 'SET', 'requirepass', 'wrong-pw');
@auth = ('-a', 'wrong-pw', '--no-auth-warning');

ok(wait_for(12, sub { redis($r1, @auth, 'XINFO', 'GROUPS',
                            'devmon:{acme}:ev') =~ /alertd/ }),
   'alertd comes in once the password is right');
ok(wait_for(12, sub { redis($r1, @auth, 'XLEN', 'devmon:{acme}:ev') >= 6 }),
   'probed publishes once the password is right');

my $t0 = time;
sleep 3;
my @e = grep { /^\{/ } split /\n/,
        redis($r1, @auth, 'XRANGE', 'devmon:{acme}:ev', '-', '+');
# the results that waited for the password carry their "t" (a prompt
# one has no "t", so two of them can be the same bytes): those are the
# ones a resend would double
my %seen;
my @late = grep { /"t":\d+/ } @e;
my @dup = grep { $seen{$_}++ } @late;
cmp_ok(scalar(@late), '>=', 2, scalar(@late) . ' results waited for Redis');
is(scalar(@dup), 0, 'no event is in the stream twice (' . scalar(@e)
   . ' entries)');
my @res = grep { /"k":"tcp"/ } @e;
ok(@res >= 6 && @res <= 20, 'results: about one a second while away and '
   . 'after (' . scalar(@res) . ')');

stop_proc($p1);
stop_proc($a1);

# --- a database that does not exist ----------------------------------
my $r2 = start_redis(6461);
$base = conns($r2);
my $a2 = start_alertd(name => 'db', redis => $r2, accounts => ['acme'],
                      smtp_port => 7230,
                      extra => { redis => { host => '127.0.0.1',
                                            port => 6461, db => 9999 } });
my $p2 = start_probed(name => 'db', redis => $r2, accounts => $devices,
                      extra => { redis => { host => '127.0.0.1',
                                            port => 6461, db => 9999 } });
sleep 4;
$n = conns($r2) - $base - 1;
ok($n >= 2 && $n <= 8, "missing db: $n connections in 4 s, not a storm");
is(redis($r2, 'DBSIZE'), '0', 'missing db: nothing written to db 0');
like(slurp($a2->{log}), qr/SELECT failed: ERR DB index is out of range/,
     'alertd says SELECT failed');
like(slurp($p2->{log}), qr/SELECT failed: ERR DB index is out of range/,
     'probed says SELECT failed');

stop_all();
done_testing();
