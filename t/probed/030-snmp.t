# probed: SNMP against a real snmpd on 127.0.0.1:7161: v2c up with extra
# OIDs and an interface, wrong community (down with a reason), v3 USM,
# an extra OID that is itself an ifOperStatus one next to a named interface
# (valid JSON, "o" and "if" apart),
# wrong v3 password, agent stopped, reboot detection (restarted agent).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(sleep);
use Devmon::Probed;

my $dir = tmp_dir();
my $port = 6434;
my $snmpd_bin = -x '/usr/sbin/snmpd' ? '/usr/sbin/snmpd' : die "snmpd is missing\n";

mkdir "$dir/conf";
mkdir "$dir/persist";
open my $fh, '>', "$dir/conf/snmpd.conf" or die;
print $fh <<'C';
agentAddress udp:127.0.0.1:7161
rocommunity devmontest 127.0.0.1
createUser mon SHA authpass123 AES privpass123
rouser mon priv
sysName devmon-test-agent
C
close $fh;

my $snmpd;
sub start_snmpd {
    $snmpd = fork // die;
    if ($snmpd == 0) {
        $ENV{SNMP_PERSISTENT_DIR} = "$dir/persist";
        $ENV{MIBS} = '';
        open STDOUT, '>>', "$dir/snmpd.log";
        open STDERR, '>&', \*STDOUT;
        exec $snmpd_bin, '-f', '-Lo', '-C', '-c', "$dir/conf/snmpd.conf",
             '-I', '-smux', '-p', "$dir/snmpd.pid";
        die;
    }
    track($snmpd);
    ok(wait_until(sub { `snmpget -v2c -c devmontest -t 0.3 -r 0 127.0.0.1:7161 1.3.6.1.2.1.1.3.0 2>&1` =~ /Timeticks/ }, 10),
       'snmpd answers');
}
start_snmpd();

my $lo = `snmpget -v2c -c devmontest -Ov 127.0.0.1:7161 1.3.6.1.2.1.2.2.1.2.1 2>&1`;
my ($ifname) = $lo =~ /STRING: "?([^"\n]+)/;
ok($ifname, "agent interface 1 is named ($ifname)");

my $redis = start_redis($dir, $port);
my @dev = (
    [ v2 => { kind => 'snmp', port => 7161, community => 'devmontest',
              oids => ['1.3.6.1.2.1.1.5.0'], interfaces => [$ifname] } ],
    [ badcomm => { kind => 'snmp', port => 7161, community => 'nope' } ],
    [ v3 => { kind => 'snmp', port => 7161, version => '3', user => 'mon',
              auth_pass => 'authpass123', priv_pass => 'privpass123' } ],
    [ noagent => { kind => 'snmp', port => 7169, community => 'devmontest' } ],
    [ mixed => { kind => 'snmp', port => 7161, community => 'devmontest',
                 oids => ['1.3.6.1.2.1.2.2.1.8.1', '1.3.6.1.2.1.1.5.0'],
                 interfaces => [$ifname] } ],
);
my ($pid, $log) = start_probed($dir, {
    region => 'lab', redis => { port => $port },
    defaults => { interval => 1, timeout => 0.3, retries => 0 },
    accounts => [ { id => 'sn', devices => [
        map { { id => $_->[0], address => '127.0.0.1', checks => [ $_->[1] ] } } @dev
    ] } ],
});

my %last;
my $collect = sub {
    %last = ();
    for my $e (stream_events($port, 'sn')) {
        next if $e->{type};
        $last{$e->{d}} = $e;
    }
    return scalar keys %last;
};
wait_until(sub { $collect->() == @dev }, 15);

is($last{v2}{st}, 'up', 'v2c: agent is up');
ok($last{v2}{ut} >= 0, 'v2c: uptime reported');
is($last{v2}{o}{'1.3.6.1.2.1.1.5.0'}, 'devmon-test-agent', 'v2c: extra OID value');
is($last{v2}{if}{$ifname}, 1, 'v2c: ifOperStatus of the named interface');
is($last{badcomm}{st}, 'down', 'wrong community is down');
is($last{badcomm}{er}, 'snmp_timeout', 'wrong community: reason snmp_timeout (v2c agents drop it silently)');
is($last{v3}{st}, 'up', 'v3 authPriv is up');
my ($bad_json, $n_mixed) = (0, 0);
for my $e (@{ redis_cmd($port, 'XRANGE', 'devmon:{sn}:ev', '-', '+') || [] }) {
    my %f = @{ $e->[1] };
    next unless $f{e} =~ /"d":"mixed"/;
    $n_mixed++;
    $bad_json++ unless eval { json()->decode($f{e}); 1 };
}
ok($n_mixed > 0 && $bad_json == 0,
   "ifOperStatus OID among the extra OIDs: valid JSON ($n_mixed events)");
is_deeply($last{mixed}{o}, { '1.3.6.1.2.1.2.2.1.8.1' => 1,
                             '1.3.6.1.2.1.1.5.0' => 'devmon-test-agent' },
          'extra OIDs all in "o", in spite of one being an ifOperStatus OID');
is_deeply($last{mixed}{if}, { $ifname => 1 }, 'the named interface in "if"');
is($last{mixed}{st}, 'up', 'mixed: up');
is($last{noagent}{st}, 'down', 'no agent is down');
is($last{noagent}{er}, 'snmp_timeout', 'no agent: reason snmp_timeout');

# reboot: a restarted agent's sysUpTime starts again
sleep 1.2;
kill_wait($snmpd);
ok(wait_until(sub { $collect->(); ($last{v2}{er} // '') eq 'snmp_timeout' }, 10),
   'agent stopped: down with snmp_timeout');
start_snmpd();
ok(wait_until(sub { grep { !$_->{type} && $_->{d} eq 'v2' && $_->{rb} }
                    stream_events($port, 'sn') }, 10),
   'restarted agent: reboot reported ("rb":1)');
like(slurp($log), qr{sn/v2: SNMP agent rebooted}, 'reboot logged');
ok(wait_until(sub { $collect->(); $last{v3}{st} eq 'up' }, 10),
   'v3 recovers after the agent restart');
is(stop_probed($pid), 0, 'probed stopped cleanly');

# a wrong v3 password alone (USM users are per engine and name)
my ($pid2) = start_probed($dir, {
    region => 'lab', redis => { port => $port },
    defaults => { interval => 1, timeout => 0.3, retries => 0 },
    accounts => [ { id => 'sn3', devices => [ { id => 'badpass',
        address => '127.0.0.1', checks => [ { kind => 'snmp', port => 7161,
        version => '3', user => 'mon', auth_pass => 'wrongpass123',
        priv_pass => 'privpass123' } ] } ] } ],
});
ok(wait_until(sub { grep { !$_->{type} } stream_events($port, 'sn3') }, 10), 'v3 result');
my ($e) = grep { !$_->{type} } stream_events($port, 'sn3');
is($e->{st}, 'down', 'wrong v3 password is down');
is($e->{er}, 'snmp_auth', 'wrong v3 password: reason snmp_auth');
stop_probed($pid2);

kill_wait($snmpd);
stop_redis($redis);
done_testing();
