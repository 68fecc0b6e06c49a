# probed: ICMP through liboping.  Loopback targets are up; a network
# namespace made here holds hosts that answer, lose exactly half, answer
# late, or never answer; with a few hundred mixed targets per cycle every
# result must belong to its own host.  Also: no CAP_NET_RAW is reported.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(sleep);
use Devmon::Probed;

my $dir = tmp_dir();
my $port = 6433;
my $ns = "dmprobed$$";
my ($va, $vb) = ("dmpa$$", "dmpb$$");
$va = substr($va, 0, 15);
$vb = substr($vb, 0, 15);
my $responder;

sub sh {
    my ($cmd) = @_;
    system($cmd) == 0 or die "failed: $cmd\n";
}

END {
    kill_wait($responder, 'TERM', 5) if $responder;
    system("ip link del $va 2>/dev/null");
    system("ip netns del $ns 2>/dev/null");
}

# the namespace is required: failing to make it fails the test
sh("ip netns add $ns");
sh("ip link add $va type veth peer name $vb");
sh("ip link set $vb netns $ns");
sh("ip addr add 169.254.77.1/24 dev $va");
sh("ip link set $va up");
sh("ip -n $ns link set lo up");
sh("ip -n $ns link set $vb up");
sh("ip netns exec $ns sysctl -qw net.ipv4.icmp_echo_ignore_all=1");

my (@up, @half, @slow, @down, @lo);
push @up, "169.254.77.$_" for 10 .. 109;
push @half, "169.254.77.$_" for 110 .. 149;
push @slow, "169.254.77.$_" for 150 .. 179;
push @down, "169.254.77.$_" for 180 .. 229;     # not assigned: no answer
push @lo, "127.0.1.$_" for 1 .. 100;
sh("ip -n $ns addr add $_/24 dev $vb") for @up, @half, @slow;

$responder = fork // die;
if ($responder == 0) {
    open STDOUT, '>', "$dir/responder.log";
    open STDERR, '>&', \*STDOUT;
    exec 'ip', 'netns', 'exec', $ns, '/usr/bin/python3',
         "$FindBin::Bin/icmp_responder.py", 'up=' . join(',', @up),
         'half=' . join(',', @half), 'slow=' . join(',', @slow);
    die;
}
ok(wait_until(sub { slurp("$dir/responder.log") =~ /ready/ }, 10),
   'ICMP responder runs in the namespace');

my %kind;
$kind{$_} = 'up' for @up, @lo;
$kind{$_} = 'half' for @half;
$kind{$_} = 'slow' for @slow;
$kind{$_} = 'down' for @down;
my @targets = (@lo, @up, @half, @slow, @down);
cmp_ok(scalar @targets, '>=', 300, 'a few hundred targets');

my %addr_of;
my @devices = map {
    (my $d = "h$_") =~ tr/./-/;
    $addr_of{$d} = $_;
    { id => $d, address => $_, checks => [ { kind => 'icmp' } ] }
} @targets;

my $redis = start_redis($dir, $port);
my ($pid, $log) = start_probed($dir, {
    region => 'lab',
    redis => { port => $port, maxlen => 100000 },
    icmp_threads => 4,
    icmp_batch => 128,
    icmp_batch_wait => 0.3,
    defaults => { interval => 3, timeout => 0.3, count => 4,
                  degraded_loss => 20, degraded_rtt => 1000 },
    accounts => [ { id => 'net', devices => \@devices } ],
});

my %res;
wait_until(sub {
    %res = ();
    for my $e (stream_events($port, 'net')) {
        next if $e->{type};
        push @{ $res{$e->{d}} }, $e;
    }
    my @short = grep { @{ $res{$_->{id}} || [] } < 2 } @devices;
    !@short;
}, 30);

my ($n, $bad) = (0, 0);
for my $d (@devices) {
    my $k = $kind{$d->{address}};
    for my $e (@{ $res{$d->{id}} || [] }) {
        $n++;
        my $pl = $e->{pl} // 0;
        my $ok = $e->{k} eq 'icmp' && $e->{r} eq 'lab';
        if ($k eq 'up') {
            $ok &&= $e->{st} eq 'up' && $pl == 0 && $e->{rt} < 40;
        } elsif ($k eq 'half') {
            $ok &&= $e->{st} eq 'degraded' && $pl == 50 && $e->{er} eq 'loss';
        } elsif ($k eq 'slow') {
            $ok &&= $e->{st} eq 'up' && $pl == 0 && $e->{rt} >= 40;
        } else {
            $ok &&= $e->{st} eq 'down' && $pl == 100 && $e->{er} eq 'timeout'
                    && !defined $e->{rt};
        }
        unless ($ok) {
            $bad++;
            diag "$d->{address} ($k): $e->{_raw}" if $bad < 10;
        }
    }
}
my @missing = grep { @{ $res{$_->{id}} || [] } < 2 } @devices;
is(scalar @missing, 0, 'every target has at least two results')
    or diag "missing: " . join(' ', map { $_->{address} } @missing[0 .. 9]);
cmp_ok($n, '>=', 2 * @devices, "$n results checked");
is($bad, 0, 'every result is attributed to the right host (loss, rtt, state)');

my @lo_ev = @{ $res{'h127-0-1-1'} || [] };
like($lo_ev[0]{_raw} // '', qr/^\{"d":"h127-0-1-1","r":"lab","k":"icmp","st":"up","rt":[\d.]+(,"jt":[\d.]+)?\}$/,
     'compact ICMP event, published at once: no "t"');
# on the wire: "id" first, then a 2-byte WebSocket frame header
my $framed = length($lo_ev[0]{_raw} // '') + length(qq("id":"$lo_ev[0]{id}",)) + 2;
cmp_ok($framed, '<', 100, "a real ICMP event is $framed bytes framed");

my $state = state_hash($port, 'net');
my ($dn) = grep { $kind{$_->{address}} eq 'down' } @devices;
like($state->{"$dn->{id}|lab|state"} // '', qr/"st":"down"/,
     'unreachable host has a down device state');

my $logtext = slurp($log);
my ($late) = $logtext =~ /cycle: checks=\d+ .*late_p99=([\d.]+)ms/;
ok(defined $late, 'cycle statistics logged');
is(stop_probed($pid), 0, 'probed stopped cleanly');

# without CAP_NET_RAW: a clear message and "unknown"/"no_cap" results
{
    my $setpriv = '/usr/bin/setpriv';
    ok(-x $setpriv, 'setpriv available to drop CAP_NET_RAW')
        or die "setpriv is missing\n";
    my $c2 = "$dir/nocap.json";
    write_json($c2, { region => 'lab', redis => { port => $port },
        defaults => { interval => 1, timeout => 0.2 },
        accounts => [ { id => 'nocap', devices => [ { id => 'x',
            address => '127.0.0.1', checks => [ { kind => 'icmp' } ] } ] } ] });
    my $pid2 = fork // die;
    if ($pid2 == 0) {
        open STDOUT, '>', "$dir/nocap.log";
        open STDERR, '>&', \*STDOUT;
        exec $setpriv, '--inh-caps=-net_raw', '--bounding-set=-net_raw',
             bin('probed'), '-c', $c2;
        die;
    }
    track($pid2);
    ok(wait_until(sub { grep { ($_->{er} // '') eq 'no_cap' }
                        stream_events($port, 'nocap') }, 10),
       'ICMP without CAP_NET_RAW gives er no_cap');
    my ($e) = grep { !$_->{type} } stream_events($port, 'nocap');
    is($e->{st}, 'unknown', '... with st unknown');
    like(slurp("$dir/nocap.log"), qr/ICMP checks need CAP_NET_RAW/, 'and says so clearly');
    kill_wait($pid2);
}

stop_redis($redis);
done_testing();
