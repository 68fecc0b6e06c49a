# probed: TCP connect checks and HTTP(S) checks with phases, status, keyword,
# slow answers (degraded) and TLS certificate expiry on a self-signed server.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use IO::Socket::INET;
use Time::HiRes qw(sleep);
use Devmon::Probed;

my $dir = tmp_dir();
my $port = 6432;
my $redis = start_redis($dir, $port);

# a self-signed certificate valid for 5 days: below cert_warn_days (14)
system("openssl req -x509 -newkey rsa:2048 -nodes -keyout $dir/key.pem "
       . "-out $dir/cert.pem -days 5 -subj /CN=127.0.0.1 "
       . "-addext subjectAltName=IP:127.0.0.1 2>/dev/null") == 0 or die;
system("openssl req -x509 -newkey rsa:2048 -nodes -keyout $dir/key2.pem "
       . "-out $dir/cert2.pem -days 400 -subj /CN=127.0.0.1 "
       . "-addext subjectAltName=IP:127.0.0.1 2>/dev/null") == 0 or die;

my @servers;
sub server {
    my (@args) = @_;
    my $pid = fork // die;
    if ($pid == 0) {
        open STDOUT, '>', "$dir/httpd-$args[0].log";
        open STDERR, '>&', \*STDOUT;
        exec '/usr/bin/python3', "$FindBin::Bin/httpd.py", @args;
        die;
    }
    push @servers, $pid;
    track($pid);
    wait_until(sub { IO::Socket::INET->new("127.0.0.1:$args[0]") }, 10)
        or die "test http server $args[0] did not start";
}
server(7110);
server(7111, "$dir/cert.pem", "$dir/key.pem");
server(7112, "$dir/cert2.pem", "$dir/key2.pem");

my $listen = IO::Socket::INET->new(Listen => 64, LocalAddr => '127.0.0.1',
                                   LocalPort => 7113, ReuseAddr => 1) or die;

my @dev = (
    [ tcp_up => { kind => 'tcp', port => 7113 } ],
    [ tcp_refused => { kind => 'tcp', port => 7119 } ],
    [ http_ok => { kind => 'http', url => 'http://127.0.0.1:7110/ok',
                   keyword => 'devmon' } ],
    [ http_kw => { kind => 'http', url => 'http://127.0.0.1:7110/ok',
                   keyword => 'absent-word' } ],
    [ http_slow => { kind => 'http', url => 'http://127.0.0.1:7110/slow',
                     degraded_rtt => 200 } ],
    [ http_500 => { kind => 'http', url => 'http://127.0.0.1:7110/500' } ],
    [ http_500ok => { kind => 'http', url => 'http://127.0.0.1:7110/500',
                      expect => [500] } ],
    [ http_timeout => { kind => 'http', url => 'http://127.0.0.1:7110/slow',
                        timeout => 0.2 } ],
    [ tls_soon => { kind => 'http', url => 'https://127.0.0.1:7111/ok',
                    ca_file => "$dir/cert.pem" } ],
    [ tls_fine => { kind => 'http', url => 'https://127.0.0.1:7112/ok',
                    ca_file => "$dir/cert2.pem" } ],
    [ tls_untrusted => { kind => 'http', url => 'https://127.0.0.1:7112/ok' } ],
    [ tls_noverify => { kind => 'http', url => 'https://127.0.0.1:7111/ok',
                        verify_tls => JSON::PP::false } ],
);

my ($pid, $log) = start_probed($dir, {
    region => 'fra',
    redis => { port => $port },
    defaults => { interval => 1, timeout => 1 },
    accounts => [ { id => 'web', devices => [
        map { { id => $_->[0], address => '127.0.0.1', checks => [ $_->[1] ] } } @dev
    ] } ],
});

my %last;
wait_until(sub {
    %last = ();
    for my $e (stream_events($port, 'web')) {
        next if $e->{type};
        $last{$e->{d}} = $e;
    }
    keys %last == @dev;
}, 15);
is(scalar keys %last, scalar @dev, 'every check produced a result') or diag explain \%last;

my $e = $last{tcp_up};
is($e->{st}, 'up', 'tcp: listening port is up');
ok(defined $e->{rt}, 'tcp: connect time present');
is($last{tcp_refused}{st}, 'down', 'tcp: closed port is down');
is($last{tcp_refused}{er}, 'refused', 'tcp: reason refused');

$e = $last{http_ok};
is($e->{st}, 'up', 'http: 200 with keyword is up');
is($e->{sc}, 200, 'http: status code');
for my $ph (qw(rt dn cn ft)) {
    ok(defined $e->{$ph} && $e->{$ph} >= 0, "http: phase $ph present");
}
ok(!defined $e->{tl}, 'http: no TLS phase on plain http');

is($last{http_kw}{st}, 'down', 'http: missing keyword is down');
is($last{http_kw}{er}, 'keyword', 'http: reason keyword');

is($last{http_slow}{st}, 'degraded', 'http: slow answer is degraded');
is($last{http_slow}{er}, 'latency', 'http: reason latency');
ok($last{http_slow}{rt} >= 300, 'http: slow rt measured');

is($last{http_500}{st}, 'down', 'http: 500 is down');
is($last{http_500}{er}, 'http_status', 'http: reason http_status');
is($last{http_500}{sc}, 500, 'http: 500 reported');
is($last{http_500ok}{st}, 'up', 'http: expect [500] accepts 500');

is($last{http_timeout}{st}, 'down', 'http: timeout is down');
is($last{http_timeout}{er}, 'timeout', 'http: reason timeout');

$e = $last{tls_soon};
is($e->{st}, 'degraded', 'https: certificate expiring soon is degraded');
is($e->{er}, 'cert_expiring', 'https: reason cert_expiring');
ok($e->{cx} >= 3 && $e->{cx} <= 5, "https: days to expiry ($e->{cx})");
ok(defined $e->{tl} && $e->{tl} > 0, 'https: TLS phase present');

$e = $last{tls_fine};
is($e->{st}, 'up', 'https: trusted certificate valid for long is up');
ok($e->{cx} >= 398 && $e->{cx} <= 400, 'https: cx about 400 days');

is($last{tls_untrusted}{st}, 'down', 'https: untrusted self-signed is down');
is($last{tls_untrusted}{er}, 'tls', 'https: reason tls');
is($last{tls_noverify}{er}, 'cert_expiring', 'https: verify_tls false still reads expiry');

my $state = state_hash($port, 'web');
like($state->{'http_500|fra|http'} // '', qr/^\{"id":"\d+-\d+","d":"http_500"/,
     'latest result in the state hash with its id');
my @st = grep { ($_->{type} // '') eq 'state' && $_->{d} eq 'http_500' }
    stream_events($port, 'web');
is($st[0]{st}, 'down', 'state change event for the device');
is($st[0]{was}, 'unknown', 'state change carries the previous state');

is(stop_probed($pid), 0, 'probed stopped cleanly');
unlike(slurp($log), qr/^<3>/m, 'no errors logged');
kill_wait($_) for @servers;
stop_redis($redis);
done_testing();
