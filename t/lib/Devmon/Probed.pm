# Devmon::Probed - helpers for the probed tests: real redis-server, probed,
# a tiny RESP client, and polling with bounds.
package Devmon::Probed;

use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempdir);
use File::Basename qw(dirname);
use File::Spec;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

our @EXPORT = qw(root_dir bin tmp_dir start_redis stop_redis redis_cmd
                 stream_events state_hash write_json start_probed stop_probed
                 wait_until json kill_wait slurp track);

my $JSON = JSON::PP->new->canonical;
my %started;                # pid => 1: killed at exit if still running

END {
    my $rc = $?;
    kill_wait($_, 'TERM', 5) for grep { kill 0, $_ } keys %started;
    $? = $rc;
}

sub json { $JSON }

sub root_dir {
    return $ENV{DEVMON_ROOT} if $ENV{DEVMON_ROOT};
    return File::Spec->rel2abs(dirname(__FILE__) . '/../../..');
}

# the binaries must exist: a missing one fails the test, never skips it
sub bin {
    my ($name) = @_;
    my $path = root_dir() . "/probed/$name";
    die "$path is missing: build it with 'make -C probed'\n" unless -x $path;
    return $path;
}

sub tmp_dir { tempdir('devmon-probed-XXXXXX', TMPDIR => 1, CLEANUP => 1) }

sub slurp {
    my ($f) = @_;
    open my $fh, '<', $f or return '';
    local $/;
    return scalar <$fh>;
}

sub wait_until {
    my ($cond, $timeout) = @_;
    my $end = time + ($timeout // 10);
    while (time < $end) {
        my $r = $cond->();
        return $r if $r;
        sleep 0.05;
    }
    return $cond->();
}

sub track { $started{$_[0]} = 1 }

sub kill_wait {
    my ($pid, $sig, $timeout) = @_;
    return unless $pid;
    delete $started{$pid};
    kill $sig // 'TERM', $pid;
    my $end = time + ($timeout // 10);
    while (time < $end) {
        my $r = waitpid($pid, WNOHANG);
        return $? if $r == $pid || $r == -1;
        sleep 0.02;
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
    return $?;
}

sub start_redis {
    my ($dir, $port, @extra) = @_;
    my $rs = -x '/usr/bin/redis-server' ? '/usr/bin/redis-server'
                                         : 'redis-server';
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>>', "$dir/redis-$port.log";
        open STDERR, '>&', \*STDOUT;
        exec $rs, '--port', $port, '--bind', '127.0.0.1', '--save', '',
             '--appendonly', 'no', '--dir', $dir, @extra;
        die "exec redis-server: $!";
    }
    $started{$pid} = 1;
    wait_until(sub { (eval { redis_cmd($port, 'PING') } // '') eq 'PONG' }, 10)
        or die "redis-server on $port did not start\n";
    # a PONG from a stale server on the same port must not pass for ours
    die "redis-server on $port exited at once (port in use?)\n"
        if waitpid($pid, WNOHANG) == $pid;
    return $pid;
}

sub stop_redis { kill_wait($_[0], 'TERM', 10) }

sub _read_reply {
    my ($s) = @_;
    my $line = <$s>;
    die "redis: connection closed\n" unless defined $line;
    $line =~ s/\r\n$//;
    my ($t, $rest) = (substr($line, 0, 1), substr($line, 1));
    return $rest if $t eq '+';
    die "redis: $rest\n" if $t eq '-';
    return $rest + 0 if $t eq ':';
    if ($t eq '$') {
        return undef if $rest < 0;
        my $buf = '';
        while (length($buf) < $rest + 2) {
            my $n = read($s, $buf, $rest + 2 - length($buf), length($buf));
            die "redis: short read\n" unless $n;
        }
        return substr($buf, 0, $rest);
    }
    if ($t eq '*') {
        return undef if $rest < 0;
        return [ map { _read_reply($s) } 1 .. $rest ];
    }
    die "redis: bad reply '$line'\n";
}

sub redis_cmd {
    my ($port, @args) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Timeout => 5) or die "redis $port: $!\n";
    my $req = '*' . scalar(@args) . "\r\n";
    $req .= '$' . length($_) . "\r\n$_\r\n" for @args;
    print $s $req;
    my $r = _read_reply($s);
    close $s;
    return $r;
}

# the account's stream as decoded events, each with its "id"
sub stream_events {
    my ($port, $account) = @_;
    my $r = redis_cmd($port, 'XRANGE', "devmon:{$account}:ev", '-', '+');
    my @ev;
    for my $e (@{ $r || [] }) {
        my ($id, $fields) = @$e;
        my %f = @$fields;
        my $ev = $JSON->decode($f{e});
        $ev->{id} = $id;
        $ev->{_raw} = $f{e};
        # its time: "t" when it was published late, else the id's ms
        $ev->{_t} = $ev->{t} // ($id =~ /^(\d+)-/)[0];
        push @ev, $ev;
    }
    return @ev;
}

sub state_hash {
    my ($port, $account, $key) = @_;
    my $r = redis_cmd($port, 'HGETALL', "devmon:{$account}:" . ($key // 'state'));
    my %h = @{ $r || [] };
    return \%h;
}

sub write_json {
    my ($file, $data) = @_;
    open my $fh, '>', $file or die "$file: $!";
    print $fh JSON::PP->new->pretty->canonical->encode($data);
    close $fh;
}

# starts probed in the foreground; returns (pid, logfile)
sub start_probed {
    my ($dir, $conf, @args) = @_;
    my $cfile = "$dir/probed.json";
    write_json($cfile, $conf) if ref $conf;
    $cfile = $conf unless ref $conf;
    my $log = "$dir/probed.log";
    my $bin = bin('probed');
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>>', $log;
        open STDERR, '>&', \*STDOUT;
        exec $bin, '-c', $cfile, @args;
        die "exec probed: $!";
    }
    $started{$pid} = 1;
    return ($pid, $log);
}

sub stop_probed { kill_wait($_[0], 'TERM', 15) }

1;
