# The per-user connection cap, counted across two workers in the shared
# zone: the 11th connection of a user gets 429 with Retry-After, another
# user is not affected, closed connections give their slots back, the
# slots of a worker killed with SIGKILL are reclaimed by its successor,
# and those of workers that died while exiting (not respawned) by the
# next handshake at the cap.  A slot taken by a handshake then refused
# (503 broker down), and those of connections the server closed (1002,
# 4001), come back: the user can still open exactly the cap.

use Test::Nginx::Socket;
use Devmon::Util;
use Devmon::JWT;
use Time::HiRes qw(sleep);

# the streams part needs its broker for every connection; TEST 6 stops
# and restarts its own one, on a port (6437) it can come back on
our $REDIS = start_redis(unix => 1);
our $REDIS2 = start_redis(port => 6437);

END { stop_redis($_) for grep { $_ } $REDIS, $REDIS2 }

our ($K, $SECRET, %T, @HELD);

$K = Devmon::JWT->new;
$ENV{TEST_NGINX_DEVMON_KEYS} = $K->dir;
$SECRET = $K->hs_secret('hs256.key', 32);

for my $u (qw(alice bob carol dave)) {
    $T{$u} = $K->token(alg => 'HS256', key => $SECRET,
                       claims => { sub => $u, acct => 'acme',
                                   exp => time + 3600 });
}


# opens $n connections of $user and keeps them; dies unless all get 101
sub hold {
    my ($n, $user, $uri) = @_;

    close $_->{sock} for grep { $_->{sock} } @HELD;
    @HELD = ();

    for my $i (1 .. $n) {
        my $c = ws_connect(uri => $uri // '/ws',
                           headers => "Authorization: Bearer $T{$user}");

        die "connection $i of $user: " . ($c->{error} // $c->{status})
            . "\n" if $c->{status} != 101;

        push @HELD, $c;
    }
}


sub release {
    my $n = shift;

    close $_->{sock} for splice @HELD, 0, $n;
    sleep 0.5;
}


# SIGKILL every worker of the test's nginx: their pool cleanups never run
sub kill_workers {
    my $pid = Test::Nginx::Util::get_pid_from_pidfile()
        or die "no master pid\n";
    my @workers = grep { /^\d+$/ } split /\s+/, `pgrep -P $pid`;

    die "expected 2 workers of $pid, found @workers\n" if @workers != 2;

    kill 'KILL', @workers;
    close $_->{sock} for splice @HELD;

    # the master respawns them into the same process slots
    for (1 .. 50) {
        sleep 0.1;
        my @now = grep { /^\d+$/ } split /\s+/, `pgrep -P $pid`;
        return if @now == 2 && !grep { my $w = $_; grep { $_ == $w } @now }
                                      @workers;
    }

    die "workers were not respawned\n";
}


# workers(2) of the test's nginx
sub workers_of {
    my $pid = shift;

    return grep { /^\d+$/ } split /\s+/, `pgrep -P $pid`;
}


# Reload while both workers are stopped, then SIGKILL them: they die
# "exiting", so the master does not respawn them into their slots.
sub kill_exiting_workers {
    my $pid = Test::Nginx::Util::get_pid_from_pidfile()
        or die "no master pid\n";
    my @old = workers_of($pid);

    die "expected 2 workers of $pid, found @old\n" if @old != 2;

    kill 'STOP', @old;
    kill 'HUP', $pid;

    for (1 .. 50) {
        sleep 0.1;
        my %old = map { $_ => 1 } @old;
        last if grep({ !$old{$_} } workers_of($pid)) == 2;
    }

    kill 'KILL', @old;
    close $_->{sock} for splice @HELD;

    for (1 .. 50) {
        sleep 0.1;
        my %now = map { $_ => 1 } workers_of($pid);
        return if !grep { $now{$_} } @old;
    }

    die "stopped workers @old did not go away\n";
}


# handshake status of $user at $uri, connection closed
sub status_of {
    my ($user, $uri) = @_;
    my $c = ws_connect(uri => $uri, headers => "Authorization: Bearer $T{$user}");

    close $c->{sock} if $c->{sock};

    return $c->{status};
}


# polls until the handshake answers $want 8 times in a row, so that both
# workers do (bounded: 10 s)
sub wait_status {
    my ($want, $user, $uri) = @_;
    my ($got, $row) = (0, 0);

    for (1 .. 100) {
        $got = status_of($user, $uri);
        $row = $got == $want ? $row + 1 : 0;
        return if $row == 8;
        sleep 0.1;
    }

    die "handshake still answers $got, not $want\n";
}


# the broker goes away: 12 handshakes of bob (cap 10) are refused with
# 503 after their slot was taken; it comes back
sub broker_bounce {
    stop_redis($REDIS2);
    wait_status(503, 'bob', '/ws-redis');

    for my $i (1 .. 12) {
        my $s = status_of('bob', '/ws-redis');
        die "handshake $i without broker: $s\n" if $s != 503;
    }

    $REDIS2 = start_redis(port => 6437);
    wait_status(101, 'bob', '/ws-redis');
}


# one connection of $user (cap 1 at $uri) that the server closes with
# $code, provoked by $send (raw bytes, or undef: just wait); waits for EOF
sub server_close {
    my ($user, $uri, $code, $send) = @_;
    my $c = ws_connect(uri => $uri, headers => "Authorization: Bearer $T{$user}");

    die "$user: " . ($c->{error} // $c->{status}) . "\n" if $c->{status} != 101;

    Devmon::Util::ws_write($c, $send) if defined $send;

    for (1 .. 50) {
        my $f = ws_read_frame($c, 8);
        die "$user: no close $code: " . join(',', %$f) . "\n"
            if !defined $f->{op};
        next if $f->{op} != 8;
        die "$user: close $f->{code}, not $code\n" if $f->{code} != $code;
        last;
    }

    # the server closes TCP once the close frames are exchanged
    Devmon::Util::ws_write($c, ws_frame(op => 'close',
                                        payload => ws_close_payload($code)));

    for (1 .. 50) {
        my $f = ws_read_frame($c, 5);
        last if $f->{eof} || $f->{timeout};
    }

    close $c->{sock};
    sleep 0.3;
}


sub up {
    return "Upgrade: websocket\nConnection: Upgrade, close\n"
           . "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\n"
           . "Sec-WebSocket-Version: 13\n"
           . "Authorization: Bearer $T{$_[0]}\n";
}


repeat_each(1);
no_shuffle();
log_level('info');
master_on();
workers(2);

plan tests => 34;

our $config = <<'_EOC_';
    location = /ws {
        devmon_ws;
        devmon_jwt_key hs256 $TEST_NGINX_DEVMON_KEYS/hs256.key;

        # held connections never answer the 1001 of a stopping nginx
        devmon_close_timeout 200ms;
    }

    location = /ws-one {
        devmon_ws;
        devmon_jwt_key hs256 $TEST_NGINX_DEVMON_KEYS/hs256.key;
        devmon_user_limit 1;
        devmon_close_timeout 200ms;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('config', $config) unless defined $block->config;
    $block->set_value('http_config', "devmon_redis unix:$REDIS->{socket};\n"
                                     . ($block->http_config // ''))
        unless ($block->http_config // '') =~ /devmon_redis/;
});

run_tests();

__DATA__

=== TEST 1: the 11th connection of a user is refused with 429 + Retry-After
--- http_config
devmon_zone devmon 1m;
devmon_user_limit 10;
--- init
::hold(10, 'alice');
--- request
GET /ws
--- more_headers eval
::up('alice')
--- error_code: 429
--- response_headers
Retry-After: 10
--- response_body_like: ^\{"error":"user_limit","message":"[^"]+"\}$
--- error_log
user "alice" of account "acme" is at its limit of 10 connections
--- no_error_log
[error]



=== TEST 2: another user of the same account still connects
--- init
::hold(10, 'alice');
--- ws_headers eval
"Authorization: Bearer $::T{bob}"
--- ws
send text ping_msg(2)
seek text pong(2)
--- no_error_log
[error]



=== TEST 3: closed connections give their slots back
--- init
::hold(10, 'alice'); ::release(3);
--- ws_headers eval
"Authorization: Bearer $::T{alice}"
--- ws
send text ping_msg(3)
seek text pong(3)
--- no_error_log
[error]



=== TEST 4: slots of killed workers are reclaimed by the respawned ones
--- init
::hold(10, 'alice'); ::kill_workers();
--- ws_headers eval
"Authorization: Bearer $::T{alice}"
--- ws
send text ping_msg(4)
seek text pong(4)
--- error_log
[alert]
user connection slots of a dead worker
--- no_error_log
[error]



=== TEST 5: slots of workers that died while exiting come back at the cap
--- http_config
devmon_zone devmon 1m;
devmon_user_limit 10;
--- init
::hold(10, 'alice'); ::kill_exiting_workers(); ::hold(10, 'alice');
--- request
GET /ws
--- more_headers eval
::up('alice')
--- error_code: 429
--- error_log
[alert]
user connection slots of a worker that died while exiting
--- no_error_log
[error]



=== TEST 6: handshakes refused with 503 (broker down) give the slot back
--- http_config
devmon_redis 127.0.0.1:6437;
devmon_user_limit 10;
--- config
    location = /ws-redis {
        devmon_ws;
        devmon_jwt_key hs256 $TEST_NGINX_DEVMON_KEYS/hs256.key;
        devmon_close_timeout 200ms;
    }
--- init
::broker_bounce(); ::hold(10, 'bob', '/ws-redis');
--- request
GET /ws-redis
--- more_headers eval
::up('bob')
--- error_code: 429
--- error_log
user "bob" of account "acme" is at its limit of 10 connections
--- no_error_log
[alert]



=== TEST 7: a connection failed with 1002 gives its slot back
--- init
::server_close('carol', '/ws-one', 1002,
               Devmon::Util::ws_frame(op => 'text', payload => 'x',
                                      mask => 0));
::hold(1, 'carol', '/ws-one');
--- request
GET /ws-one
--- more_headers eval
::up('carol')
--- error_code: 429
--- error_log
failing the connection with 1002
--- no_error_log
[error]



=== TEST 8: a connection closed with 4001 (token expired) gives its slot back
--- init
$::T{dave_2s} = $::K->token(alg => 'HS256', key => $::SECRET,
                            claims => { sub => 'dave', acct => 'acme',
                                        exp => time + 2 });
::server_close('dave_2s', '/ws-one', 4001);
::hold(1, 'dave', '/ws-one');
--- request
GET /ws-one
--- more_headers eval
::up('dave')
--- error_code: 429
--- error_log
expired, closing
--- no_error_log
[error]
