# probed: configuration errors name key and line, -t, --region, --version,
# READY=1 to $NOTIFY_SOCKET, SIGHUP keeps the state of unchanged devices,
# SIGTERM stops cleanly.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use IO::Socket::UNIX;
use Socket qw(SOCK_DGRAM);
use Devmon::Probed;

my $probed = bin('probed');
my $dir = tmp_dir();
my $port = 6431;

sub run_t {
    my ($text, @args) = @_;
    open my $fh, '>', "$dir/t.json" or die;
    print $fh $text;
    close $fh;
    my $out = `$probed -t -c $dir/t.json @args 2>&1`;
    return ($? >> 8, $out);
}

my ($rc, $out) = run_t(<<'J');
{"region":"fra","accounts":[{"id":"a","devices":[
  {"id":"d1","address":"127.0.0.1","checks":[{"kind":"icmp"}]}]}]}
J
is($rc, 0, '-t accepts a valid configuration');
like($out, qr/valid: region fra, 1 accounts, 1 devices, 1 checks/, '-t says what it found');

($rc, $out) = run_t(<<'J');
{
  "region": "fra",
  "accounts": [
    { "id": "a",
      "devices": [
        { "id": "d1", "address": "127.0.0.1",
          "checks": [
            { "kind": "icmp" },
            { "kind": "tcp", "port": 80,
              "timeout": 999 }
          ] }
      ] }
  ]
}
J
is($rc, 1, 'out-of-range value fails -t');
like($out, qr{t\.json:10: accounts\[0\]\.devices\[0\]\.checks\[1\]\.timeout: 999 is out of range},
     'error names file, line, JSON path and problem');

($rc, $out) = run_t(qq({"region":"fra",\n"accounts":[{"id":"a","devices":[\n{"id":"d","address":"x","checks":[{"kind":"http","count":3}]}]}]}));
like($out, qr{:3: accounts\[0\]\.devices\[0\]\.checks\[0\]\.count: does not apply to http checks},
     'a key of another kind is refused with its line');

($rc, $out) = run_t(qq({"region":"fra",\n"accounts":[{"id":"a","devices":[\n{"id":"d","address":"x","checks":[{"kind":"tcp"}]}]}]}));
like($out, qr{:3: accounts\[0\]\.devices\[0\]\.checks\[0\]\.port: a tcp check needs a port},
     'kind-specific requirement');

($rc, $out) = run_t(qq({"region":"fra",\n"bogus":1,"accounts":[]}));
like($out, qr{:2: bogus: unknown key}, 'unknown key with line');

($rc, $out) = run_t(qq({"region":"fra",\n"accounts":[\n{"id":"a" "devices":[]}]}));
like($out, qr{t\.json:3: }, 'JSON syntax error with line');

($rc, $out) = run_t(qq({"accounts":[]}));
like($out, qr{"region" is missing}, 'region is required');
($rc, $out) = run_t(qq({"accounts":[]}), '--region', 'ams');
is($rc, 0, '--region supplies it');
like($out, qr/region ams/, '--region overrides');

($rc, $out) = run_t(qq({"region":"fra","accounts":[{"id":"a","devices":[{"id":"d","address":"x","checks":[{"kind":"snmp","oids":["1.3.6.x"]}]}]}]}));
like($out, qr{oids\[0\]: "1\.3\.6\.x" is not a numeric OID}, 'OIDs are validated');

($rc, $out) = run_t(qq({"region":"fra","accounts":[{"id":"a","devices":[{"id":"d","address":"x","checks":[{"kind":"icmp"},{"kind":"icmp"}]}]}]}));
like($out, qr{checks\[1\]\.kind: a second icmp check}, 'one check per kind');

($rc, $out) = run_t(qq({"region":"fra","region_check":["127.0.0.1:80","gw.example:443"],"accounts":[]}));
is($rc, 1, '-t refuses a region_check that is not numeric host:port');
like($out, qr{region_check\[1\]: "gw\.example:443" is not a numeric host:port}, '... naming it');

($rc, $out) = run_t(qq({"region":"fra","redis":{"host":"redis.example"},"accounts":[]}));
is($rc, 1, '-t refuses a redis.host name');
like($out, qr{redis\.host: "redis\.example" is not an IP address}, '... and says why');

($rc, $out) = run_t(qq({"region":"fra","accounts":[{"id":"a","devices":[{"id":"d","address":"127.0.0.1","checks":[{"kind":"icmp","count":5,"timeout":1,"interval":5}]}]}]}));
like($out, qr{checks\[0\]: count \* timeout \(5 x 1 s\) must be shorter than interval}, 'an ICMP run as long as the interval is refused');

$out = `$probed --version`;
like($out, qr/^probed \d+\.\d+\.\d+$/m, '--version');

$out = `$probed -t -c ${\ root_dir()}/probed/probed.example.json 2>&1`;
is($? >> 8, 0, 'the example configuration is valid') or diag $out;

# a running daemon: READY=1, reload, stop
my $redis = start_redis($dir, $port);

my $nsock = "$dir/notify.sock";
my $ns = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => $nsock)
    or die "notify socket: $!";
local $ENV{NOTIFY_SOCKET} = $nsock;

my $tcp = IO::Socket::INET->new(Listen => 16, LocalAddr => '127.0.0.1',
                                LocalPort => 7101, ReuseAddr => 1) or die $!;
my %conf = (
    region => 'fra',
    redis => { port => $port },
    defaults => { interval => 0.5, timeout => 0.3 },
    accounts => [ { id => 'acct', devices => [
        { id => 'keep', address => '127.0.0.1',
          checks => [ { kind => 'tcp', port => 7101 } ] },
        { id => 'change', address => '127.0.0.1',
          checks => [ { kind => 'tcp', port => 7101 } ] },
        { id => 'gone', address => '127.0.0.1',
          checks => [ { kind => 'tcp', port => 7101 } ] },
    ] } ],
);
my ($pid, $log) = start_probed($dir, \%conf);

my $msg = '';
$ns->blocking(0);
wait_until(sub { my $b; $ns->recv($b, 100); $msg .= $b // ''; $msg =~ /READY=1/ }, 10);
like($msg, qr/READY=1/, 'READY=1 sent to $NOTIFY_SOCKET');

my $states = sub {
    my ($dev) = @_;
    grep { ($_->{type} // '') eq 'state' && $_->{d} eq $dev }
        stream_events($port, 'acct');
};
ok(wait_until(sub { $states->('keep') && $states->('change') }, 10),
   'both devices reach a state');
my $cat = state_hash($port, 'acct', 'devices');
ok($cat->{gone}, 'catalogue lists every device');
like($cat->{keep} // '', qr/"k":\["tcp"\]/, 'catalogue entry has kinds');

# reload: "change" gets another port (down), "keep" stays as it is
$conf{accounts}[0]{devices}[1]{checks}[0]{port} = 7102;
splice @{ $conf{accounts}[0]{devices} }, 2, 1;
write_json("$dir/probed.json", \%conf);
my $before_keep = () = $states->('keep');
kill 'HUP', $pid;
ok(wait_until(sub { grep { $_->{st} eq 'down' } $states->('change') }, 10),
   'reloaded device runs with its new settings');
sleep 1.5;
my @keep = $states->('keep');
is(scalar @keep, $before_keep, 'unchanged device kept its state across reload (no new transition)');
like(slurp($log), qr/reloaded: 2 checks/, 'reload logged');
$cat = state_hash($port, 'acct', 'devices');
ok(!exists $cat->{gone}, 'removed device left the catalogue');

# a broken file on reload keeps the running configuration
open my $fh, '>', "$dir/probed.json" or die;
print $fh "{ broken";
close $fh;
kill 'HUP', $pid;
ok(wait_until(sub { slurp($log) =~ /reload failed, keeping the running configuration/ }, 5),
   'bad reload is refused and logged');
ok(kill(0, $pid), 'daemon still running after a bad reload');

# a reload with a bad region_check is refused the same way
my %bad = (%conf, region_check => ['not-an-address']);
write_json("$dir/probed.json", \%bad);
kill 'HUP', $pid;
ok(wait_until(sub { slurp($log) =~ /reload failed, keeping the running configuration: .*region_check\[0\]/ }, 5),
   'reload with a bad region_check is refused');
ok(kill(0, $pid), 'daemon still running');

my $st = stop_probed($pid);
is($st, 0, 'SIGTERM: clean exit status 0');
like(slurp($log), qr/stopping/, 'stop logged');

stop_redis($redis);
done_testing();
