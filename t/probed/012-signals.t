# probed signals: reloads do not restart the cycle timer (heartbeats keep
# their cadence under a burst of SIGHUPs); once stopping, a SIGHUP does not
# restart probing and another SIGTERM does not push the exit back.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use Devmon::Probed;

my $dir = tmp_dir();
my $port = 6438;
my $redis = start_redis($dir, $port);

my $listen = IO::Socket::INET->new(Listen => 64, LocalAddr => '127.0.0.1',
                                   LocalPort => 7124, ReuseAddr => 1) or die;
my $conf = {
    region => 'fra',
    redis => { port => $port },
    defaults => { interval => 1, timeout => 0.2 },
    accounts => [ { id => 'sig', devices => [
        map { { id => "d$_", address => '127.0.0.1',
                checks => [ { kind => 'tcp', port => 7124,
                              interval => 0.5 } ] } } 1 .. 5
    ] } ],
};

sub heartbeats {
    my ($from, $to) = @_;
    return grep { ($_->{type} // '') eq 'region'
                  && $_->{_t} >= $from * 1000 && $_->{_t} <= $to * 1000 }
        stream_events($port, 'sig');
}

# heartbeats every second while SIGHUPs arrive every 0.25 s
my ($pid, $log) = start_probed($dir, $conf);
ok(wait_until(sub { heartbeats(0, time + 10) >= 2 }, 10), 'heartbeats flow');
my $t0 = time;
diag slurp($log) if $ENV{DEBUG_SIG};
while (time < $t0 + 3.5) {
    kill 'HUP', $pid;
    sleep 0.25;
}
my $t1 = time;
my @reloads = slurp($log) =~ /reloaded: \d+ checks/g;
cmp_ok(scalar @reloads, '>=', 10, scalar(@reloads) . ' reloads done');
my $n = heartbeats($t0, $t1);
cmp_ok($n, '>=', 2, "heartbeats kept their cadence through the reloads ($n)");
is(stop_probed($pid), 0, 'stopped');

# a stop that has to wait: Redis holds writes, the queue cannot drain
my $dir2 = tmp_dir();
($pid, $log) = start_probed($dir2, $conf);
ok(wait_until(sub { grep { !$_->{type} } stream_events($port, 'sig') }, 10),
   'results flow');
is(redis_cmd($port, 'CLIENT', 'PAUSE', 8000, 'WRITE'), 'OK', 'Redis paused');
sleep 0.5;
my $t_term = time;
kill 'TERM', $pid;
sleep 0.3;
kill 'HUP', $pid;
sleep 1.2;
kill 'TERM', $pid;
my $end = time + 10;
my $gone;
while (time < $end) {
    last if ($gone = waitpid($pid, WNOHANG)) == $pid;
    sleep 0.02;
}
my $took = time - $t_term;
is($gone, $pid, 'probed exited');
is($? >> 8, 0, 'exit status 0');
cmp_ok($took, '<', 2.8, sprintf('exit within the 2 s grace of the first '
       . 'SIGTERM (%.2f s): the second one did not push it back', $took));
cmp_ok($took, '>', 1.5, 'the grace was used (the queue could not drain)');
my $text = slurp($log);
unlike($text, qr/reloaded/, 'SIGHUP while stopping did not reload');
like($text, qr/stopping: signal 1 ignored/, 'and was logged as ignored');
like($text, qr/stopping with \d+ results not published/,
     'unpublished results are reported');

redis_cmd($port, 'CLIENT', 'UNPAUSE');
stop_redis($redis);
done_testing();
