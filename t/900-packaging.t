# t/900-packaging.t: "make package" builds both .debs, lintian finds no
# error, they install into this machine's Debian nginx, the example configs
# pass "nginx -t", probed runs under its unit's user and capabilities, and
# a probe event travels probed -> Redis -> devmon nginx -> front nginx ->
# WebSocket client.  devmon-alertd, shipped in devmon-probed, runs under
# its unit's user without capabilities and reads the account stream that
# probed fills.  Then both packages are purged and /etc/nginx is checked
# (and if need be restored) to be as it was.
#
# Needs root.  Ports: front nginx 7900, devmon nginx 7901 (TLS) and 7902,
# redis 6490.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use IO::Select ();
use IO::Socket::UNIX ();
use JSON::PP ();
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(time sleep);

use lib dirname(abs_path(__FILE__)) . '/lib';
use Devmon::Pkg;

my $ROOT = $ENV{DEVMON_ROOT} // dirname(dirname(abs_path(__FILE__)));
my $BUILD = $ENV{DEVMON_BUILD} // "$ROOT/build";
my $NGINX = '/usr/sbin/nginx';
my @PKGS = qw(libnginx-mod-http-devmon devmon-probed);
my $UNIT = '/lib/systemd/system/devmon-probed.service';
my $ALERT_UNIT = '/lib/systemd/system/devmon-alertd.service';
my $WANTS = '/etc/systemd/system/multi-user.target.wants';
my $MODCONF = '/etc/nginx/modules-enabled/50-mod-http-devmon.conf';
my ($FRONT_PORT, $NODE_PORT, $NODE_HTTP_PORT, $REDIS_PORT) =
    (7900, 7901, 7902, 6490);
my $ACCOUNT = 'acme';
my $DEVICE = 'pkg-lo';

my $tmp = tempdir('devmon-pkg-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $tmp;    # the devmon user and nginx workers read in here

my (%pid, $installed, $etc_backup, $etc_before, $had_user, $had_group);


# Stops everything this test started, purges what it installed, and puts
# /etc/nginx back if the purge left it different.  Runs on any exit.
sub cleanup {
    stop_pid($pid{$_})
        for grep { $pid{$_} } qw(alertd probed front node redis);
    %pid = ();

    if ($installed) {
        my ($rc, $out) = run('dpkg', '--purge', @PKGS);
        diag("dpkg --purge: $out") if $rc;
        $installed = 0;
    }

    if (!$had_user && getpwnam('devmon')) {
        run('userdel', 'devmon');
    }
    if (!$had_group && getgrnam('devmon')) {
        run('groupdel', 'devmon');
    }

    if ($etc_backup) {
        my @diff = tree_diff($etc_before, tree_state('/etc/nginx'));
        if (@diff) {
            diag("/etc/nginx changed, restoring it: @diff");
            run('rm', '-rf', '/etc/nginx');
            run('tar', '-C', '/', '-xpf', $etc_backup);
        }
        $etc_backup = undef;
    }
}

END { local $?; cleanup() }
$SIG{INT} = $SIG{TERM} = sub { cleanup(); exit 1 };


# --- preconditions: fail loudly, never skip --------------------------------

if ($> != 0) {
    fail('t/900-packaging.t must run as root (it installs packages)');
    done_testing();
    exit 1;
}

my @missing = grep { !-x $_ } ('/usr/bin/dpkg-buildpackage',
    '/usr/bin/dh', '/usr/bin/dh_nginx', '/usr/bin/lintian',
    '/usr/bin/setpriv', '/usr/bin/redis-server', '/usr/bin/redis-cli',
    '/usr/bin/systemd-analyze', '/usr/bin/openssl', $NGINX);

if (@missing) {
    fail("tools present: missing @missing (make deps)");
    done_testing();
    exit 1;
}

for my $p (@PKGS) {
    my ($rc, $out) = run('dpkg-query', '-W', '-f', '${Status}', $p);
    if ($rc == 0 && $out !~ /\bnot-installed$/) {
        fail("$p is already installed here: refusing to touch it"
             . " (dpkg --purge it first if a test run left it)");
        done_testing();
        exit 1;
    }
}

my ($sys_rc_before) = run($NGINX, '-t', '-q');
$had_user = defined getpwnam('devmon');
$had_group = defined getgrnam('devmon');

$etc_before = tree_state('/etc/nginx');
$etc_backup = "$tmp/etc-nginx.tar";
my ($brc, $bout) = run('tar', '-C', '/', '-cpf', $etc_backup, 'etc/nginx');
die "backup of /etc/nginx failed: $bout" if $brc;


# --- build and lint ---------------------------------------------------------

{
    my ($rc, $out) = run('make', '-C', $ROOT, 'package', "BUILD=$BUILD");
    is($rc, 0, 'make package succeeds') or diag(substr($out, -4000));
}

my %deb;
for my $p (@PKGS) {
    ($deb{$p}) = glob("$BUILD/pkg/${p}_*_*.deb");
    ok($deb{$p} && -s $deb{$p}, "make package left $p in build/pkg");
}

if (grep { !$deb{$_} } @PKGS) {
    done_testing();
    exit 1;
}

{
    my ($changes) = glob("$BUILD/pkg/*.changes");
    my ($rc, $out) = run('lintian', '--tag-display-limit', '0', $changes);
    my @errors = grep { /^E: / } split /\n/, $out;
    my @warnings = grep { /^W: / } split /\n/, $out;

    is(scalar @errors, 0, 'lintian: no errors') or diag($out);
    diag("lintian warnings:\n" . join("\n", @warnings)) if @warnings;
}

# the alert daemon is part of the probe package, its config a conffile
{
    my $deb = $deb{'devmon-probed'};
    my (undef, $list) = run('dpkg-deb', '-c', $deb);
    for my $f (qw(./usr/sbin/devmon-alertd ./usr/bin/devmon-alertctl
                  ./etc/devmon/alertd.json
                  ./lib/systemd/system/devmon-alertd.service
                  ./usr/share/man/man8/devmon-alertd.8.gz
                  ./usr/share/man/man1/devmon-alertctl.1.gz))
    {
        like($list, qr{ \Q$f\E$}m, "devmon-probed contains $f");
    }

    my (undef, $conffiles) = run('dpkg-deb', '-I', $deb, 'conffiles');
    like($conffiles, qr{^/etc/devmon/alertd\.json$}m,
         '/etc/devmon/alertd.json is a conffile');
}

# the ABI nginx-dev names (nginx-abi-1.22.1-7 on Debian 12), which the
# machine's nginx must provide
{
    my $subst = eval {
        read_file('/usr/share/nginx/src/debian/libnginx-mod.abisubstvars') }
        // '';
    my ($abi) = $subst =~ /^nginx:abi=(\S+)$/m;
    my (undef, $deps) = run('dpkg-deb', '-f',
                            $deb{'libnginx-mod-http-devmon'}, 'Depends');
    my (undef, $prov) = run('dpkg-query', '-W', '-f', '${Provides}',
                            'nginx');

    ok($abi && $deps =~ /(?:^|, )\Q$abi\E(?:,|$)/m,
       "module package depends on the exact nginx ABI ($abi)")
        or diag($deps);
    ok($abi && $prov =~ /(?:^|, )\Q$abi\E(?:,|$)/m,
       "the machine's nginx provides that ABI") or diag($prov);
}


# --- install ----------------------------------------------------------------

{
    $installed = 1;
    my ($rc, $out) = run('dpkg', '-i', @deb{@PKGS});
    is($rc, 0, 'dpkg -i installs both packages') or diag($out);
}

for my $p (@PKGS) {
    my ($rc, $out) = run('dpkg-query', '-W', '-f', '${Status}', $p);
    is($out, 'install ok installed', "$p is installed");
}

ok(-l $MODCONF
   && readlink($MODCONF)
      eq '/usr/share/nginx/modules-available/mod-http-devmon.conf',
   'module enabled the Debian way: modules-enabled symlink');
like(eval { read_file($MODCONF) } // '',
     qr{^load_module modules/ngx_http_devmon_module\.so;$}m,
     'the snippet loads the module');

{
    my ($rc, $out) = run($NGINX, '-t');
    is($rc, 0, "the machine's nginx -t passes with the module enabled")
        or diag($out);
}

my @pw = getpwnam('devmon');
ok(@pw, 'system user devmon exists');
ok(@pw && $pw[2] < 1000, 'devmon is a system user (uid < 1000)');

{
    my @st = stat '/etc/devmon/probed.json';
    ok(@st && ($st[2] & 07777) == 0640 && $st[4] == 0
       && $st[5] == (getgrnam('devmon'))[2],
       '/etc/devmon/probed.json is root:devmon 0640');
}

{
    my @st = stat '/etc/devmon/alertd.json';
    ok(@st && ($st[2] & 07777) == 0640 && $st[4] == 0
       && $st[5] == (getgrnam('devmon'))[2],
       '/etc/devmon/alertd.json is root:devmon 0640');
}

ok(-x '/usr/sbin/probed', 'probed installed in /usr/sbin');
ok(-x '/usr/bin/devmon-publish', 'devmon-publish installed in /usr/bin');
ok(-x '/usr/sbin/devmon-alertd', 'devmon-alertd installed in /usr/sbin');
ok(-x '/usr/bin/devmon-alertctl', 'devmon-alertctl installed in /usr/bin');

{
    my ($rc, $out) = run('setpriv', '--reuid=devmon', '--regid=devmon',
                         '--init-groups', '/usr/sbin/probed', '-t', '-c',
                         '/etc/devmon/probed.json');
    is($rc, 0, 'the shipped probed.json is valid and readable by devmon')
        or diag($out);
}

{
    my ($rc, $out) = run('setpriv', '--reuid=devmon', '--regid=devmon',
                         '--init-groups', '/usr/sbin/devmon-alertd', '-t',
                         '-c', '/etc/devmon/alertd.json');
    is($rc, 0, 'the shipped alertd.json is valid and readable by devmon')
        or diag($out);
}

{
    my ($rc, $out) = run('systemd-analyze', 'verify', $UNIT);
    is($rc, 0, 'systemd-analyze verify accepts the unit') or diag($out);
}

{
    my ($rc, $out) = run('systemd-analyze', 'verify', $ALERT_UNIT);
    is($rc, 0, 'systemd-analyze verify accepts the alertd unit')
        or diag($out);
}

# one alertd per set of accounts: installing the package on every probe
# host must not start one on each
ok(!-e "$WANTS/devmon-alertd.service" && !-l "$WANTS/devmon-alertd.service",
   'the alertd unit is not enabled by the package');


# --- the unit's settings ----------------------------------------------------

my $unit = unit_settings($UNIT);
is_deeply($unit->{Type}, ['notify'], 'unit: Type=notify');
is_deeply($unit->{User}, ['devmon'], 'unit: runs as devmon');
is_deeply($unit->{AmbientCapabilities}, ['CAP_NET_RAW'],
          'unit: ambient capabilities: CAP_NET_RAW only');
is_deeply($unit->{CapabilityBoundingSet}, ['CAP_NET_RAW'],
          'unit: bounding set: CAP_NET_RAW only');
is_deeply($unit->{ExecReload}, ['/bin/kill -HUP $MAINPID'],
          'unit: reload is SIGHUP');
is_deeply($unit->{NoNewPrivileges}, ['yes'], 'unit: NoNewPrivileges');

my @exec = split ' ', ($unit->{ExecStart} // [''])->[0];
is_deeply(\@exec, ['/usr/sbin/probed', '-c', '/etc/devmon/probed.json'],
          'unit: ExecStart');

my $aunit = unit_settings($ALERT_UNIT);
is_deeply($aunit->{Type}, ['simple'],
          'alertd unit: Type=simple (alertd sends no READY=1)');
is_deeply($aunit->{User}, ['devmon'], 'alertd unit: runs as devmon');
is_deeply($aunit->{Group}, ['devmon'], 'alertd unit: group devmon');
is_deeply($aunit->{CapabilityBoundingSet}, [''],
          'alertd unit: empty bounding set (no capability)');
is_deeply($aunit->{AmbientCapabilities} // [''], [''],
          'alertd unit: no ambient capability');
is_deeply($aunit->{ExecReload}, ['/bin/kill -HUP $MAINPID'],
          'alertd unit: reload is SIGHUP');
is_deeply($aunit->{NoNewPrivileges}, ['yes'],
          'alertd unit: NoNewPrivileges');
is_deeply($aunit->{RestrictAddressFamilies}, ['AF_INET AF_INET6 AF_UNIX'],
          'alertd unit: AF_INET, AF_INET6 and AF_UNIX only');

# the rest of the sandbox is probed's
for my $k (qw(ProtectSystem ProtectHome PrivateTmp PrivateDevices
              ProtectKernelTunables ProtectKernelModules ProtectControlGroups
              RestrictNamespaces MemoryDenyWriteExecute SystemCallFilter
              SystemCallArchitectures UMask))
{
    is_deeply($aunit->{$k}, $unit->{$k}, "alertd unit: $k as probed's");
}

my @aexec = split ' ', ($aunit->{ExecStart} // [''])->[0];
is_deeply(\@aexec,
          ['/usr/sbin/devmon-alertd', '-c', '/etc/devmon/alertd.json'],
          'alertd unit: ExecStart');


# --- test PKI, token and rendered configs -----------------------------------

my $pki = "$tmp/etc/devmon/tls";
make_pki($pki, node => ['monitor.example.com'],
         front => ['monitor.example.com']);
make_path("$tmp/etc/devmon/keys", "$tmp/etc/front/tls", "$tmp/node/logs",
          "$tmp/front/logs", "$tmp/www");
run('cp', "$pki/node.pem", "$pki/fullchain.pem");
run('cp', "$pki/node.key", "$pki/privkey.pem");
run('cp', "$pki/front.pem", "$tmp/etc/front/tls/fullchain.pem");
run('cp', "$pki/front.key", "$tmp/etc/front/tls/privkey.pem");
run('cp', "$pki/ca.pem", "$tmp/etc/front/tls/devmon-nodes-ca.pem");
run('cp', "$pki/jwt-public.pem", "$tmp/etc/devmon/keys/jwt-public.pem");
write_file("$tmp/www/index.html", "<!-- devmon package test -->\n");
run('chmod', '-R', 'a+rX', $tmp);

my $now = time;
my $token = jwt_rs256("$pki/jwt.key", {
    acct => $ACCOUNT, sub => 'pkg-test', iss => 'https://login.example.com',
    aud => 'devmon', iat => int($now), exp => int($now) + 600 }, $tmp);

# the example's 65536 files, or what this machine (container) allows root
my $nofile = (run('bash', '-c', 'ulimit -Hn'))[1] =~ /^(\d+)/ ? $1 : 1024;
$nofile = 65536 if $nofile > 65536;

my $node_conf = "$tmp/node/nginx.conf";
eval {
    render("$ROOT/nginx.conf.example", $node_conf,
        ['pid', qr{^pid /run/nginx\.pid;}m, "pid $tmp/node/nginx.pid;"],
        ['logs', qr{/var/log/nginx/}, "$tmp/node/logs/"],
        ['ipv6 listens', qr{^[ \t]*listen \[::\]:\d+.*\n}m, ''],
        ['listen 80', qr{listen 80;}, "listen 127.0.0.1:$NODE_HTTP_PORT;"],
        ['listen 443', qr{listen 443 }, "listen 127.0.0.1:$NODE_PORT "],
        ['/etc/devmon', qr{/etc/devmon/}, "$tmp/etc/devmon/"],
        ['redis', qr{127\.0\.0\.1:6379}, "127.0.0.1:$REDIS_PORT"],
        ['dashboard root', qr{root /var/www/devmon;}, "root $tmp/www;"],
        ['rlimit', qr{worker_rlimit_nofile \d+;},
         "worker_rlimit_nofile $nofile;"]);
    1;
} or fail("render nginx.conf.example: $@");

my $front_conf = "$tmp/front/nginx.conf";
eval {
    render("$ROOT/packaging/nginx-front-proxy.conf.example",
        "$tmp/front/devmon.conf",
        ['first node', qr{server 10\.0\.0\.5:443},
         "server 127.0.0.1:$NODE_PORT"],
        ['second node', qr{^[ \t]*server 10\.0\.0\.6:443.*\n}m, ''],
        ['ipv6 listens', qr{^[ \t]*listen \[::\]:\d+.*\n}m, ''],
        ['listen 443', qr{listen 443 }, "listen 127.0.0.1:$FRONT_PORT "],
        ['tls dir', qr{/etc/nginx/tls/}, "$tmp/etc/front/tls/"],
        ['logs', qr{/var/log/nginx/}, "$tmp/front/logs/"]);
    write_file($front_conf, "pid $tmp/front/nginx.pid;\n"
        . "error_log $tmp/front/logs/error.log info;\n"
        . "events { worker_connections 64; }\n"
        . "http { include $tmp/front/devmon.conf; }\n");
    1;
} or fail("render nginx-front-proxy.conf.example: $@");

# the front must outwait the node's pings, or idle clients get cut
{
    my %t;
    for my $f ($node_conf, "$tmp/front/devmon.conf") {
        my $text = eval { read_file($f) } // '';
        while ($text =~ /^\s*(devmon_ping_interval|devmon_ping_timeout
                            |proxy_read_timeout)\s+(\d+)s;/gmx)
        {
            $t{$1} = $2;
        }
    }
    ok(($t{proxy_read_timeout} // 0) > ($t{devmon_ping_interval} // 1e9)
       + ($t{devmon_ping_timeout} // 1e9),
       'front proxy_read_timeout exceeds the ping interval + timeout');
}

for my $c ([node => $node_conf], [front => $front_conf]) {
    my ($rc, $out) = run($NGINX, '-t', '-c', $c->[1]);
    is($rc, 0, "nginx -t passes with the rendered $c->[0] example")
        or diag($out);
}


# --- run it all -------------------------------------------------------------

$pid{redis} = spawn("$tmp/redis.log", {}, 'redis-server', '--port',
    $REDIS_PORT, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', $tmp);
ok(wait_until(10, sub {
       (run('redis-cli', '-p', $REDIS_PORT, 'PING'))[1] =~ /PONG/ }),
   'redis-server is up');

$pid{node} = spawn("$tmp/node/stderr.log", {}, $NGINX, '-c', $node_conf,
                   '-g', 'daemon off;');
$pid{front} = spawn("$tmp/front/stderr.log", {}, $NGINX, '-c', $front_conf,
                    '-g', 'daemon off;');

ok(wait_until(10, sub {
       -s "$tmp/node/nginx.pid" && -s "$tmp/front/nginx.pid" }),
   'devmon nginx and front nginx are up')
    or diag(eval { read_file("$tmp/node/stderr.log") },
            eval { read_file("$tmp/front/stderr.log") });

# probed: its unit's ExecStart with only the config path swapped, as the
# unit's user with the unit's capabilities, and a notify socket to catch
# READY=1 as systemd would.
my $pconf = "$tmp/probed.json";
write_file($pconf, JSON::PP->new->canonical->pretty->encode({
    region => 'lab',
    redis => { host => '127.0.0.1', port => $REDIS_PORT + 0 },
    accounts => [ { id => $ACCOUNT, devices => [ {
        id => $DEVICE, name => 'loopback', address => '127.0.0.1',
        regions => ['lab'],
        checks => [ { kind => 'icmp', interval => 1, timeout => 0.5,
                      count => 1 } ] } ] } ] }), 0640);
run('chgrp', 'devmon', $pconf);

my $nsock_path = "$tmp/notify.sock";
my $nsock = IO::Socket::UNIX->new(Type => IO::Socket::SOCK_DGRAM(),
                                  Local => $nsock_path)
    or die "notify socket: $!";
chmod 0777, $nsock_path;

my @cmd = @exec;
$cmd[2] = $pconf;
my $cap = lc $unit->{AmbientCapabilities}[0] =~ s/^CAP_//r;

$pid{probed} = spawn("$tmp/probed.log", { NOTIFY_SOCKET => $nsock_path },
    'setpriv', "--reuid=$unit->{User}[0]", "--regid=$unit->{Group}[0]",
    '--init-groups', "--inh-caps=+$cap", "--ambient-caps=+$cap",
    "--bounding-set=-all,+$cap", '--no-new-privs', @cmd);

my $ready = '';
{
    my $sel = IO::Select->new($nsock);
    my $deadline = time + 15;
    while ($ready !~ /^READY=1$/m && time < $deadline) {
        next unless $sel->can_read(0.2);
        $nsock->recv(my $dgram, 4096);
        $ready .= "$dgram\n";
    }
}
like($ready, qr/^READY=1$/m, 'probed tells the notify socket READY=1')
    or diag(eval { read_file("$tmp/probed.log") });

{
    my $st = eval { read_file("/proc/$pid{probed}/status") } // '';
    my ($uid) = $st =~ /^Uid:\s+(\d+)/m;
    my ($eff) = $st =~ /^CapEff:\s+([0-9a-f]+)/m;
    my ($bnd) = $st =~ /^CapBnd:\s+([0-9a-f]+)/m;
    is($uid, $pw[2], 'probed runs as devmon');
    is(hex($eff // 'f'), 1 << 13, 'probed holds only CAP_NET_RAW');
    is(hex($bnd // 'f'), 1 << 13, 'probed cannot gain another capability');
}


# --- end to end: WebSocket through the front proxy -------------------------

{
    my ($s, $code, $head) = eval {
        wss_open(port => $FRONT_PORT, sni => 'monitor.example.com',
            ca => "$pki/ca.pem", path => '/ws', headers => [
                'Origin: https://monitor.example.com',
                "Sec-WebSocket-Protocol: devmon.v1, bearer.$token"]);
    };
    is($code, 101, 'WebSocket upgrade through the front proxy')
        or diag($@ || $head);

    # the first results may say "unknown" until the state has settled
    my ($event, $up, @seen);
    my $buf = '';
    my $deadline = time + 20;
    while ($s && !$up && time < $deadline) {
        my $text = ws_next_text($s, $deadline, \$buf) // last;
        push @seen, $text;
        my $m = eval { JSON::PP::decode_json($text) } or next;
        next if $m->{type} || ($m->{d} // '') ne $DEVICE
                || ($m->{k} // '') ne 'icmp';
        $event //= $m;
        $up = $m if ($m->{st} // '') eq 'up';
    }

    ok($event, 'a probe event from probed reaches the WebSocket client')
        or diag("last error: $@; got:\n"
                . join("\n", @seen > 5 ? @seen[-5 .. -1] : @seen));
    ok($up, 'probed pings 127.0.0.1 with CAP_NET_RAW: state up')
        or diag($event ? JSON::PP::encode_json($event) : 'no event');
    like($event && $event->{id}, qr/^\d+-\d+$/, 'event carries its stream id');
}

{
    my ($s, $code, $head) = eval {
        wss_open(port => $FRONT_PORT, sni => 'monitor.example.com',
            ca => "$pki/ca.pem", path => '/ws',
            headers => ['Origin: https://monitor.example.com']);
    };
    is($code, 401, 'no token: 401 through the front proxy')
        or diag($@ || $head);
}

# the other locations of both examples
{
    my %node = (port => $NODE_PORT, sni => 'monitor.example.com',
                ca => "$pki/ca.pem");
    my %front = (%node, port => $FRONT_PORT);
    my ($code, $head, $body);

    ($code, $head, $body) = eval { https_get(%front, path => '/') };
    ok(($code // 0) == 200 && $body =~ /devmon package test/,
       'dashboard served through the front proxy') or diag($@ || $head);

    ($code, $head) = eval { https_get(%front, path => '/devmon/status') };
    is($code, 404, 'front proxy does not pass /devmon/status on')
        or diag($@ || $head);

    ($code, $head, $body) = eval {
        https_get(%node, path => '/devmon/status') };
    ok(($code // 0) == 200 && $body =~ /^devmon_\w+/m,
       'status endpoint answers the internal network (metrics)')
        or diag($@ || "$head\n\n$body");

    ($code, $head, $body) = eval {
        https_get(%node, path => '/devmon/snapshot',
                  headers => ["Authorization: Bearer $token"]) };
    ok(($code // 0) == 200 && $body =~ /"\Q$DEVICE\E"/,
       'snapshot endpoint answers with the account\'s devices')
        or diag($@ || "$head\n\n$body");
}

# ExecReload: SIGHUP reloads (as Type=notify tells systemd) and probed
# keeps running and publishing
{
    kill 'HUP', $pid{probed};

    my $said = '';
    my $sel = IO::Select->new($nsock);
    my $deadline = time + 10;
    while ($said !~ /RELOADING=1\n(?:.*\n)*READY=1\n/ && time < $deadline) {
        next unless $sel->can_read(0.2);
        $nsock->recv(my $dgram, 4096);
        $said .= "$dgram\n";
    }
    like($said, qr/RELOADING=1\n(?:.*\n)*READY=1\n/,
         'reload is told to systemd: RELOADING=1, then READY=1');

    ok(kill(0, $pid{probed}) && waitpid($pid{probed}, WNOHANG) == 0,
       'probed survives ExecReload (SIGHUP)');
    my $xlen = sub {
        (run('redis-cli', '-p', $REDIS_PORT, 'XLEN',
             "devmon:{$ACCOUNT}:ev"))[1] =~ /^(\d+)/ ? $1 : -1;
    };
    my $len1 = $xlen->();
    ok($len1 > 0 && wait_until(10, sub { $xlen->() > $len1 }),
       'probed keeps publishing after reload');
}

{
    my $log = eval { read_file("$tmp/node/logs/devmon-access.log") } // '';
    like($log, qr{"GET /ws }, 'the node logged the WebSocket requests');
    unlike($log, qr/\Q$token\E/, 'the token is not in the access log');

    my $err = eval { read_file("$tmp/node/logs/error.log") };
    ok(defined $err && $err !~ /\[(?:alert|crit|emerg)\]/,
       'no alert in the devmon nginx error log') or diag($err // $@);
}


# --- devmon-alertd under its unit's user, without capabilities -----------

# the unit's ExecStart with only the config path swapped; the test's
# account and redis
{
    my $aconf = "$tmp/alertd.json";
    write_file($aconf, JSON::PP->new->canonical->pretty->encode({
        accounts => [$ACCOUNT],
        redis => { host => '127.0.0.1', port => $REDIS_PORT + 0 },
        storm_window => 1 }), 0640);
    run('chgrp', 'devmon', $aconf);

    my @acmd = @aexec;
    $acmd[2] = $aconf;
    my $alog = "$tmp/alertd.log";
    my $key = "devmon:{$ACCOUNT}:ev";

    $pid{alertd} = spawn($alog, {},
        'setpriv', "--reuid=$aunit->{User}[0]",
        "--regid=$aunit->{Group}[0]", '--init-groups', '--inh-caps=-all',
        '--ambient-caps=-all', '--bounding-set=-all', '--no-new-privs',
        @acmd);

    ok(wait_until(10, sub {
           (eval { read_file($alog) } // '') =~ /reading the streams/ }),
       'alertd connects to redis and reads the account stream')
        or diag(eval { read_file($alog) });

    my $st = eval { read_file("/proc/$pid{alertd}/status") } // '';
    my ($uid) = $st =~ /^Uid:\s+(\d+)/m;
    my ($eff) = $st =~ /^CapEff:\s+([0-9a-f]+)/m;
    my ($bnd) = $st =~ /^CapBnd:\s+([0-9a-f]+)/m;
    is($uid, $pw[2], 'alertd runs as devmon');
    is(hex($eff // 'f'), 0, 'alertd holds no capability');
    is(hex($bnd // 'f'), 0, 'alertd cannot gain a capability');

    # its consumer group follows what probed keeps publishing
    my $last = sub {
        my (undef, $out) = run('redis-cli', '-p', $REDIS_PORT, 'XINFO',
                               'GROUPS', $key);
        return $out =~ /^last-delivered-id\n(\S+)$/m ? $1 : '';
    };
    my $first = $last->();
    like($first, qr/^\d+-\d+$/, 'alertd made its consumer group')
        or diag(eval { read_file($alog) });
    ok($first ne '' && wait_until(10, sub { $last->() ne $first }),
       'alertd reads the entries probed publishes');

    sleep 2;
    ok(kill(0, $pid{alertd}) && waitpid($pid{alertd}, WNOHANG) == 0,
       'alertd stays up') or diag(eval { read_file($alog) });

    kill 'HUP', $pid{alertd};
    sleep 1;
    ok(kill(0, $pid{alertd}) && waitpid($pid{alertd}, WNOHANG) == 0,
       'alertd survives ExecReload (SIGHUP)');

    my $text = eval { read_file($alog) } // '';
    unlike($text, qr/reload failed|^<[0-3]>/m,
           'no error in alertd\'s log') or diag($text);
}


# --- purge and leave the machine as it was ----------------------------------

stop_pid($pid{$_}) for qw(alertd probed front node redis);
%pid = ();

{
    my ($rc, $out) = run('dpkg', '--purge', @PKGS);
    is($rc, 0, 'dpkg --purge removes both packages') or diag($out);
    $installed = 0;
}

ok(!-e $MODCONF && !-l $MODCONF, 'purge removed the modules-enabled link');
ok(!-e '/usr/lib/nginx/modules/ngx_http_devmon_module.so',
   'purge removed the module');
ok(!-e '/etc/devmon', 'purge removed /etc/devmon');
ok(!-e '/usr/sbin/devmon-alertd' && !-e $ALERT_UNIT,
   'purge removed devmon-alertd and its unit');
ok(!-e '/etc/systemd/system/multi-user.target.wants/devmon-probed.service',
   'purge removed the unit\'s enablement');

{
    my @diff = tree_diff($etc_before, tree_state('/etc/nginx'));
    is("@diff", '', '/etc/nginx is as it was before the test');
    my ($sys_rc) = run($NGINX, '-t', '-q');
    is($sys_rc, $sys_rc_before, "the machine's nginx -t is as before");
}

cleanup();
done_testing();
