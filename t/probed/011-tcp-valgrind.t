# probed under valgrind: TCP checks whose connect fails at once (a broadcast
# address: EACCES/ENETUNREACH inside connect(), the DNS callback already ran
# and freed the run) and a listening port, for a few cycles.  valgrind must
# find no invalid access and the reasons must be right.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Devmon::Probed;

my $valgrind = '/usr/bin/valgrind';
ok(-x $valgrind, 'valgrind is installed') or die "valgrind is missing\n";

my $dir = tmp_dir();
my $port = 6436;
my $redis = start_redis($dir, $port);

my $listen = IO::Socket::INET->new(Listen => 16, LocalAddr => '127.0.0.1',
                                   LocalPort => 7121, ReuseAddr => 1) or die;

write_json("$dir/probed.json", {
    region => 'fra',
    redis => { port => $port },
    defaults => { interval => 0.5, timeout => 0.4 },
    accounts => [ { id => 'vg', devices => [
        { id => 'bcast', address => '127.255.255.255',
          checks => [ { kind => 'tcp', port => 7122 } ] },
        { id => 'refused', address => '127.0.0.1',
          checks => [ { kind => 'tcp', port => 7123 } ] },
        { id => 'up', address => '127.0.0.1',
          checks => [ { kind => 'tcp', port => 7121 } ] },
    ] } ],
});

my $log = "$dir/probed.log";
my $pid = fork // die;
if ($pid == 0) {
    open STDOUT, '>', $log;
    open STDERR, '>&', \*STDOUT;
    exec $valgrind, '-q', '--error-exitcode=99', bin('probed'),
         '-c', "$dir/probed.json";
    die;
}
track($pid);

my %n;
ok(wait_until(sub {
    %n = ();
    $n{$_->{d}}++ for grep { !$_->{type} } stream_events($port, 'vg');
    ($n{bcast} // 0) >= 4 && ($n{refused} // 0) >= 4 && ($n{up} // 0) >= 4;
}, 40), 'a few cycles of each check under valgrind')
    or diag explain \%n;

my %last;
$last{$_->{d}} = $_ for grep { !$_->{type} } stream_events($port, 'vg');
is($last{bcast}{st}, 'down', 'connect failing at once: down');
is($last{bcast}{er}, 'unreachable', '... with reason unreachable');
is($last{refused}{er}, 'refused', 'closed port: refused');
is($last{up}{st}, 'up', 'listening port: up');

my $st = kill_wait($pid, 'TERM', 30);
is($st >> 8, 0, 'probed exits 0 under valgrind (99 would be a memory error)')
    or diag slurp($log);
unlike(slurp($log), qr/Invalid (read|write)|uninitialised/,
       'valgrind reports no invalid access');

stop_redis($redis);
done_testing();
