# probed: Redis stopped mid-run and started again: probing goes on, results
# wait in the backlog, the daemon reconnects and publishes them in order;
# nothing is lost.  Results that waited carry "t" (when they were taken);
# the ones published at once do not (their time is their stream id's).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use Devmon::Probed;

my $dir = tmp_dir();
my $port = 6435;
my @aof = ('--appendonly', 'yes', '--appendfsync', 'always');
my $redis = start_redis($dir, $port, @aof);

my $listen = IO::Socket::INET->new(Listen => 64, LocalAddr => '127.0.0.1',
                                   LocalPort => 7120, ReuseAddr => 1) or die;
my $iv = 0.5;
my @ids = map { "t$_" } 1 .. 6;
my ($pid, $log) = start_probed($dir, {
    region => 'fra',
    redis => { port => $port, backlog => 1000 },
    defaults => { interval => $iv, timeout => 0.3 },
    accounts => [ { id => 'out', devices => [
        map { { id => $_, address => '127.0.0.1',
                checks => [ { kind => 'tcp', port => 7120 } ] } } @ids
    ] } ],
});

ok(wait_until(sub { grep { !$_->{type} } stream_events($port, 'out') }, 10),
   'results flow');
sleep 1;
my $t_stop = time;
stop_redis($redis);
sleep 3;
ok(kill(0, $pid), 'probed keeps running while Redis is away');
$redis = start_redis($dir, $port, @aof);
my $t_back = time;

ok(wait_until(sub { my @c = slurp($log) =~ /redis: connected to/g; @c >= 2 },
              15),
   'reconnected');
my $t_conn = time;
my @queued = slurp($log) =~ /connected to [^,]+, (\d+) queued/g;
cmp_ok($queued[-1], '>=', 20, "backlog of $queued[-1] items published on reconnect");
like(slurp($log), qr/redis: 127\.0\.0\.1: .*results queued, retrying/, 'outage logged once');
sleep 3;
is(stop_probed($pid), 0, 'probed stopped cleanly');

my @ev = stream_events($port, 'out');
sub id_ms { ($_[0]{id} =~ /^(\d+)-/)[0] }
sub burst { id_ms($_[0]) > $t_stop * 1000 && id_ms($_[0]) < ($t_conn + 1) * 1000 }
my ($bad_order, $bad_gap, $checked) = (0, 0, 0);
my $maxgap = 0;
for my $d (@ids) {
    # _t: "t" if the event has one, else its id's milliseconds
    my @r = grep { !$_->{type} && $_->{d} eq $d } @ev;
    for my $i (1 .. $#r) {
        $checked++;
        # equal times: the reconnect burst publishes many in one ms
        $bad_order++ if $r[$i]{_t} < $r[$i - 1]{_t};
        my $gap = ($r[$i]{_t} - $r[$i - 1]{_t}) / 1000;
        $maxgap = $gap if $gap > $maxgap;
        # one that waited less than 1 s in the burst has no "t": its time
        # (the publish time) may be up to 1 s after it was taken
        my $slack = grep { !defined $_->{t} && burst($_) } @r[$i - 1, $i];
        $bad_gap++ if $gap > $iv * 1.8 + ($slack ? 1 : 0);
    }
    my @during = grep { $_->{_t} / 1000 > $t_stop + 0.5
                        && $_->{_t} / 1000 < $t_back - 1 } @r;
    cmp_ok(scalar @during, '>=', 3, "$d: results taken during the outage were kept");
    is(scalar(grep { !defined $_->{t} } @during), 0,
       "$d: every result that waited for Redis carries its \"t\"");
}

# "t" only on late events, and then it is at least 1 s before the id
my @timed = grep { defined $_->{t} } @ev;
my @early = grep { id_ms($_) - $_->{t} < 1000 } @timed;
is(scalar @early, 0, scalar(@timed) . ' events with "t", each published '
   . '1 s or more after it was taken');
my @before = grep { id_ms($_) < ($t_stop - 0.2) * 1000 } @ev;
my @after = grep { id_ms($_) > ($t_conn + 1) * 1000 } @ev;
cmp_ok(scalar @before, '>=', 6, scalar(@before) . ' events before the outage');
cmp_ok(scalar @after, '>=', 6, scalar(@after) . ' events after the backlog');
is(scalar(grep { defined $_->{t} } @before, @after), 0,
   'events published at once (before the outage, after the backlog) have '
   . 'no "t"');
# the run spans ~7 s at 0.5 s: at least 6 pairs a device, whatever the
# jittered reconnect delay; gaps between them are checked just below
cmp_ok($checked, '>=', 6 * @ids, "$checked consecutive result pairs checked");
is($bad_order, 0, 'stream order is the order results were taken (by time)');
is($bad_gap, 0, "no result missing (largest gap ${maxgap}s at interval ${iv}s)");

my @hb = grep { ($_->{type} // '') eq 'region' } @ev;
cmp_ok(scalar @hb, '>=', 10, 'region heartbeats every cycle, kept too');

stop_redis($redis);
done_testing();
