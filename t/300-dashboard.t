#!/usr/bin/perl
# 300-dashboard.t: the dashboard in headless chromium against the real stack.
#
# Starts redis-server, a flapping HTTP target (dashboard/demo/flapper.py),
# probed and nginx with the devmon module serving the dashboard, all on
# 127.0.0.1:8090-8092, then runs t/dashboard/browser.test.mjs (playwright-core
# driving Debian's /usr/bin/chromium).  Each browser test is one TAP test
# here.  Anything missing (chromium, node modules, the module, probed) is a
# failure, never a skip.  Screenshots go to build/artifacts/.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use IO::Socket::INET ();
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(sleep time);

my $root = $ENV{DEVMON_ROOT} // abs_path(dirname(__FILE__) . '/..');
my $build = $ENV{DEVMON_BUILD} // "$root/build";
my $nginx = $ENV{TEST_NGINX_BINARY} // '/usr/sbin/nginx';
my $module = "$build/ngx_http_devmon_module.so";

my $port = 8090;
my $redis_port = 8091;
my $http_port = 8092;
my $account = 'dash';
my $interval = 2;           # seconds between checks
my $notice = 10;            # devmon_token_expiring_notice, seconds

my (@pids, $tmp);


sub prerequisites {
    my @need = (
        [ -x '/usr/bin/chromium', 'chromium (apt-get install chromium)' ],
        [ which('node') ne '', 'node (apt-get install nodejs)' ],
        [ -f "$root/dashboard/node_modules/playwright-core/package.json",
          'playwright-core (npm ci in dashboard/)' ],
        [ -f "$root/dashboard/node_modules/uplot/dist/uPlot.esm.js",
          'uplot (npm ci in dashboard/)' ],
        [ which('redis-server') ne '', 'redis-server' ],
        [ -x $nginx, $nginx ],
        [ -f $module, "$module (make)" ],
        [ -x "$root/probed/probed", 'probed/probed (make)' ],
        [ -x "$root/probed/devmon-publish", 'probed/devmon-publish (make)' ],
        [ -x '/usr/bin/python3', '/usr/bin/python3' ],
    );
    my $ok = 1;

    for my $n (@need) {
        $ok = 0 unless ok($n->[0], "have $n->[1]");
    }

    return $ok;
}


sub which {
    my ($cmd) = @_;
    my $p = `sh -c 'command -v $cmd'`;

    chomp $p;
    return $p;
}


sub spawn {
    my ($name, @cmd) = @_;
    my $pid = fork() // die "fork: $!";

    if ($pid == 0) {
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>', "$tmp/$name.out") or die "$tmp/$name.out: $!";
        open(STDERR, '>&', \*STDOUT);
        exec(@cmd) or die "exec $cmd[0]: $!";
    }

    push @pids, [ $pid, $name ];
    return $pid;
}


sub stop_all {
    for my $p (reverse @pids) {
        kill 'TERM', $p->[0];
    }

    my $until = time + 10;

    for my $p (reverse @pids) {
        while (waitpid($p->[0], WNOHANG) == 0) {
            if (time > $until) {
                kill 'KILL', $p->[0];
                waitpid($p->[0], 0);
                last;
            }
            sleep 0.05;
        }
    }

    @pids = ();
}


sub port_open {
    my ($p) = @_;

    return IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $p,
                                 Proto => 'tcp', Timeout => 1);
}


sub wait_port {
    my ($p, $what) = @_;

    for (1 .. 100) {
        return 1 if port_open($p);
        sleep 0.1;
    }

    diag("$what did not listen on $p:\n" . slurp("$tmp/$what.out"));
    return 0;
}


sub slurp {
    my ($f) = @_;

    open(my $fh, '<', $f) or return "($f: $!)";
    local $/;
    return <$fh>;
}


sub spew {
    my ($f, $text) = @_;

    open(my $fh, '>', $f) or die "$f: $!";
    print $fh $text;
    close $fh;
}


sub probed_conf {
    my @devices = (
        { id => 'web', name => 'Web shop', address => '127.0.0.1',
          checks => qq([ { "kind": "http",
                           "url": "http://127.0.0.1:$http_port/",
                           "expect": [200], "timeout": 1 } ]) },
        { id => 'cache', name => 'Redis cache', address => '127.0.0.1',
          checks => qq([ { "kind": "tcp", "port": $redis_port } ]) },
        { id => 'front', name => 'Front nginx', address => '127.0.0.1',
          checks => qq([ { "kind": "tcp", "port": $port } ]) },
        { id => 'gw', name => 'Gateway', address => '127.0.0.1',
          checks => '[ { "kind": "icmp", "count": 1 } ]' },
    );
    my $list = join(",\n", map {
        qq({ "id": "$_->{id}", "name": "$_->{name}",
             "address": "$_->{address}", "checks": $_->{checks} })
    } @devices);

    spew("$tmp/probed.json", <<"EOF");
{
    "region": "lab",
    "redis": { "host": "127.0.0.1", "port": $redis_port, "maxlen": 100000 },
    "defaults": { "interval": $interval, "timeout": 1, "down_after": 1,
                  "up_after": 1 },
    "accounts": [ { "id": "$account", "devices": [ $list ] } ]
}
EOF

    return [ map { { id => $_->{id}, name => $_->{name} } } @devices ];
}


sub nginx_conf {
    my $user = $> == 0 ? 'user nobody nogroup;' : '';

    make_path("$tmp/nginx/logs");
    spew("$tmp/nginx.conf", <<"EOF");
$user
worker_processes 2;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log info;
load_module $tmp/ngx_http_devmon_module.so;

events {
    worker_connections 1024;
}

http {
    include /etc/nginx/mime.types;
    access_log $tmp/nginx/logs/access.log;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;

    devmon_redis 127.0.0.1:$redis_port;

    server {
        listen 127.0.0.1:$port;
        root $tmp/www;

        location = /ws {
            devmon_ws;
            devmon_allow_origin http://127.0.0.1:$port;
            devmon_jwt_key hs256 $tmp/jwt.secret;
            devmon_jwt_algorithms HS256;
            devmon_token_expiring_notice ${notice}s;
        }
    }
}
EOF
}


# run the node test file; each top-level node test becomes a TAP test
sub run_browser {
    my ($devices) = @_;
    my $artifacts = "$build/artifacts";
    my @env = (
        DEVMON_ROOT => $root,
        DASH_URL => "http://127.0.0.1:$port",
        DASH_REDIS_PORT => $redis_port,
        DASH_SECRET => "$tmp/jwt.secret",
        DASH_ACCOUNT => $account,
        DASH_CONTROL => "$tmp/flapper.control",
        DASH_INTERVAL_MS => $interval * 1000,
        DASH_NOTICE_S => $notice,
        DASH_RELOAD => json_array($nginx, '-p', "$tmp/nginx",
                                  '-c', "$tmp/nginx.conf", '-s', 'reload'),
        DASH_PUBLISH => "$root/probed/devmon-publish",
        DASH_ARTIFACTS => $artifacts,
        DASH_TMP => $tmp,
        DASH_DEVICES => '[' . join(',', map {
            qq({"id":"$_->{id}","name":"$_->{name}"})
        } @$devices) . ']',
    );

    make_path($artifacts);

    my $pid = open(my $out, '-|') // die "fork: $!";

    if ($pid == 0) {
        my %e = @env;

        @ENV{keys %e} = values %e;
        open(STDERR, '>&', \*STDOUT);
        exec('node', '--test', '--test-reporter=tap',
             "$root/t/dashboard/browser.test.mjs")
            or die "exec node: $!";
    }

    my ($count, @log) = (0);

    local $SIG{ALRM} = sub { kill 'KILL', $pid };
    alarm 300;

    while (my $line = <$out>) {
        push @log, $line;

        # a node test marked SKIP or TODO fails here: nothing skipped passes
        if ($line =~ /^(not )?ok \d+ - (.*?)(?: # (SKIP|TODO).*)?$/) {
            my ($failed, $name, $directive) = ($1, $2, $3);

            $count++;
            ok(!$failed && !$directive, "browser: $name")
                or diag(join('', @log[($#log > 60 ? $#log - 60 : 0)
                                      .. $#log]));
        }
    }

    close $out;
    alarm 0;

    is($? >> 8, 0, 'the browser tests exited 0')
        or diag(join('', @log[($#log > 80 ? $#log - 80 : 0) .. $#log]));
    is($count, 7, 'all seven browser tests ran');
}


sub json_array {
    return '[' . join(',', map { my $s = $_; $s =~ s/(["\\])/\\$1/g;
                                 qq("$s") } @_) . ']';
}


END {
    stop_all() if @pids;
}


exit main();


sub main {
    unless (prerequisites()) {
        done_testing();
        return 0;
    }

    $tmp = tempdir('devmon-dash-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    chmod 0711, $tmp;

    for my $p ($port, $redis_port, $http_port) {
        ok(!port_open($p), "port $p is free") or do {
            done_testing();
            return 0;
        };
    }

    # a private copy: a concurrent rebuild overwriting build/*.so in place
    # would crash the workers (SIGBUS on the mapped file)
    system('cp', $module, "$tmp/ngx_http_devmon_module.so") == 0
        or die "cp $module failed";
    system("umask 077; openssl rand -hex 32 > $tmp/jwt.secret") == 0
        or die "openssl rand failed";
    system("$root/dashboard/demo/stage", "$tmp/www") == 0
        or die "stage failed";
    spew("$tmp/flapper.control", 'up');

    my $devices = probed_conf();

    nginx_conf();
    make_path("$tmp/redis");

    spawn('redis', 'redis-server', '--bind', '127.0.0.1',
          '--port', $redis_port, '--save', '', '--appendonly', 'no',
          '--dir', "$tmp/redis");
    wait_port($redis_port, 'redis') or BAIL_OUT('redis-server');

    spawn('flapper', '/usr/bin/python3', "$root/dashboard/demo/flapper.py",
          '--port', $http_port, '--schedule', 'up:3600',
          '--control', "$tmp/flapper.control", '--delay-ms', '2');
    wait_port($http_port, 'flapper') or BAIL_OUT('flapper');

    is(system("$nginx -t -q -p $tmp/nginx -c $tmp/nginx.conf"
              . " >$tmp/nginx-t.out 2>&1"), 0, 'nginx accepts the config')
        or diag(slurp("$tmp/nginx-t.out"));
    spawn('nginx', $nginx, '-p', "$tmp/nginx", '-c', "$tmp/nginx.conf",
          '-g', 'daemon off;');
    ok(wait_port($port, 'nginx'), 'nginx listens');

    spawn('probed', "$root/probed/probed", '-c', "$tmp/probed.json");
    sleep 0.5;
    ok(kill(0, $pids[-1][0]), 'probed runs')
        or diag(slurp("$tmp/probed.out"));

    run_browser($devices);

    my $log = slurp("$tmp/nginx/logs/error.log");
    my @bad = grep { /\[(alert|crit|emerg)\]/ } split /\n/, $log;

    ok(!@bad, 'no [alert], [crit] or [emerg] in the nginx error log')
        or diag(join("\n", @bad[0 .. ($#bad > 20 ? 20 : $#bad)]));

    if (!Test::More->builder->is_passing) {
        diag("probed:\n" . substr(slurp("$tmp/probed.out"), -3000));
        diag("nginx error.log (end):\n" . substr($log, -4000));
    }

    stop_all();
    done_testing();

    return 0;
}
