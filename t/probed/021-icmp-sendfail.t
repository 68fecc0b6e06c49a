# probed: one ICMP target whose send fails (a broadcast address: sendto says
# EACCES) shares a batch with good targets.  liboping then fails the whole
# ping_send; only the failing host may be reported ("unknown", "icmp_error"),
# the others keep their real results, and the failing host is pinged alone
# afterwards (one warning, not one per cycle).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Devmon::Probed;

my $dir = tmp_dir();
my $port = 6429;
my $redis = start_redis($dir, $port);

my @good = map { "127.0.3.$_" } 1 .. 5;
my $bcast = '127.255.255.255';
my @devices = map {
    (my $d = "h$_") =~ tr/./-/;
    { id => $d, address => $_, checks => [ { kind => 'icmp' } ] }
} (@good, $bcast);

# a long batch wait puts every check of a cycle in one batch
my ($pid, $log) = start_probed($dir, {
    region => 'lab',
    redis => { port => $port },
    icmp_batch_wait => 0.5,
    defaults => { interval => 1, timeout => 0.2, count => 2 },
    accounts => [ { id => 'sf', devices => \@devices } ],
});

my %res;
ok(wait_until(sub {
    %res = ();
    push @{ $res{$_->{d}} }, $_ for grep { !$_->{type} }
        stream_events($port, 'sf');
    !grep { @{ $res{$_->{id}} || [] } < 3 } @devices;
}, 20), 'three results for every target');

my $bad = 0;
for my $a (@good) {
    (my $d = "h$a") =~ tr/./-/;
    for my $e (@{ $res{$d} || [] }) {
        next if $e->{st} eq 'up' && !defined $e->{er};
        $bad++;
        diag "$a: $e->{_raw}";
    }
}
is($bad, 0, 'targets sharing the batch are up in every cycle');

my @b = @{ $res{'h127-255-255-255'} || [] };
ok(@b >= 3, 'the broadcast target has results');
is(scalar(grep { $_->{st} eq 'unknown' && ($_->{er} // '') eq 'icmp_error' }
          @b), scalar @b, 'the broadcast target is unknown with icmp_error');

my @warn = slurp($log) =~ /^<4>probed: icmp: \Q$bcast\E: sending failed/mg;
is(scalar @warn, 1, 'the failing address is logged once');

is(stop_probed($pid), 0, 'probed stopped cleanly');
stop_redis($redis);
done_testing();
