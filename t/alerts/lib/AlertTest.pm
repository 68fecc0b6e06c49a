package AlertTest;

# Helpers for the alert tests: a real redis-server, the SMTP sink, the
# webhook sink, a TCP target to switch on and off, probed and alertd, all
# started as children of the test and stopped when it ends.

use strict;
use warnings;

use base 'Exporter';

use File::Temp qw(tempdir);
use IO::Socket::INET ();
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);
use JSON::PP ();
use Test::More ();

our @EXPORT = qw(
    root tmpdir start_redis redis start_smtp start_webhook target_on
    target_off start_probed start_alertd stop_proc wait_for mails
    webhooks slurp json_decode stop_all write_json
);

my @Procs;
my $Tmp;
my $Root = $ENV{DEVMON_ROOT} // do {
    my $d = __FILE__;
    $d =~ s{/t/alerts/lib/AlertTest\.pm$}{};
    $d eq __FILE__ ? '.' : $d;
};

$SIG{PIPE} = 'IGNORE';


sub root { $Root }


sub tmpdir {
    $Tmp //= tempdir('devmon-alerts-XXXXXX', TMPDIR => 1,
                     CLEANUP => !$ENV{DEVMON_KEEP});
    return $Tmp;
}


sub slurp {
    my $f = shift;
    open my $fh, '<', $f or return '';
    local $/;
    return scalar <$fh>;
}


sub write_json {
    my ($file, $data) = @_;
    open my $fh, '>', $file or die "$file: $!";
    print $fh JSON::PP->new->canonical->pretty->encode($data);
    close $fh;
    return $file;
}


sub json_decode { JSON::PP->new->decode(shift) }


sub spawn {
    my ($name, $log, @cmd) = @_;
    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log;
        open STDERR, '>>', $log;
        { exec @cmd }
        POSIX::_exit(127);
    }

    my $p = { name => $name, pid => $pid, log => $log, cmd => \@cmd };
    push @Procs, $p;
    return $p;
}


sub stop_proc {
    my ($p, $sig) = @_;

    return unless $p && $p->{pid};
    kill $sig // 'TERM', $p->{pid};

    for (1 .. 250) {
        if (waitpid($p->{pid}, WNOHANG) == $p->{pid}) {
            $p->{pid} = 0;
            return;
        }
        sleep 0.02;
    }

    kill 'KILL', $p->{pid};
    waitpid($p->{pid}, 0);
    $p->{pid} = 0;
}


sub stop_all {
    stop_proc($_) for reverse @Procs;

    # a failure shows what the daemons said
    if (!Test::More->builder->is_passing) {
        for my $p (grep { $_->{log} && $_->{name} =~ /^(alertd|probed)/ }
                   @Procs)
        {
            my @l = split /\n/, slurp($p->{log});
            Test::More::diag("$p->{name} log (last 40 lines):\n"
                             . join("\n", @l > 40 ? @l[-40 .. -1] : @l));
        }
    }

    @Procs = ();
}


END { stop_all() }


# waits up to $secs for $cond to return true; returns its last value
sub wait_for {
    my ($secs, $cond) = @_;
    my $end = time + $secs;
    my $v;

    while (1) {
        $v = $cond->();
        return $v if $v;
        return $v if time > $end;
        sleep 0.1;
    }
}


sub port_open {
    my $port = shift;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Timeout => 1);
    return $s ? 1 : 0;
}


sub start_redis {
    my $port = shift;
    my $dir = tmpdir() . "/redis-$port";
    mkdir $dir;
    my $p = spawn('redis', "$dir/log", 'redis-server', '--port', $port,
                  '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
                  '--dir', $dir);
    $p->{port} = $port;
    wait_for(5, sub { redis($p, 'PING') eq 'PONG' })
        or die "redis-server on $port did not start: " . slurp("$dir/log");
    return $p;
}


# one command through redis-cli; the reply as text
sub redis {
    my ($r, @args) = @_;
    my $port = ref $r ? $r->{port} : $r;
    my $pid = open(my $fh, '-|') // die "fork: $!";

    if ($pid == 0) {
        open STDERR, '>', '/dev/null';
        { exec 'redis-cli', '-p', $port, '--raw', @args }
        POSIX::_exit(127);
    }

    local $/;
    my $out = <$fh> // '';
    close $fh;
    $out =~ s/\n+$//;
    return $out;
}


sub start_smtp {
    my $port = shift;
    my $dir = tmpdir() . "/mail-$port";
    mkdir $dir;
    my $p = spawn('smtp', tmpdir() . "/smtp-$port.log", '/usr/bin/python3',
                  "$Root/t/alerts/smtp_sink.py", $port, $dir);
    $p->{dir} = $dir;
    $p->{port} = $port;
    wait_for(10, sub { port_open($port) })
        or die "SMTP sink did not start: " . slurp($p->{log});
    return $p;
}


sub start_webhook {
    my $port = shift;
    my $dir = tmpdir() . "/hook-$port";
    mkdir $dir;
    my $p = spawn('webhook', tmpdir() . "/hook-$port.log",
                  '/usr/bin/python3', "$Root/t/alerts/webhook_sink.py",
                  $port, $dir);
    $p->{dir} = $dir;
    wait_for(10, sub { port_open($port) })
        or die "webhook sink did not start: " . slurp($p->{log});
    return $p;
}


# the mails the sink received, in order: { head => {...}, body => text }
sub mails {
    my $dir = shift;
    my @m;

    for my $f (sort glob("$dir/*.eml")) {
        my $raw = slurp($f);
        $raw =~ s/\r\n/\n/g;
        my ($h, $b) = split /\n\n/, $raw, 2;
        my %head;
        for (split /\n/, $h) {
            $head{lc $1} = $2 if /^([\w-]+):\s*(.*)$/;
        }
        push @m, { head => \%head, body => $b // '', raw => $raw };
    }

    return @m;
}


sub webhooks {
    my $dir = shift;
    return map { json_decode(slurp($_)) } sort glob("$dir/*.json");
}


# a TCP service for probed to check: a child that accepts and closes
sub target_on {
    my $port = shift;
    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => $port, Listen => 64,
                                      ReuseAddr => 1)
            or POSIX::_exit(1);
        while (my $c = $l->accept) {
            close $c;
        }
        POSIX::_exit(0);
    }

    my $p = { name => "target-$port", pid => $pid, port => $port };
    push @Procs, $p;
    wait_for(5, sub { port_open($port) }) or die "target $port: not up";
    return $p;
}


sub target_off {
    my $p = shift;
    stop_proc($p, 'KILL');
}


sub start_probed {
    my (%o) = @_;
    my $conf = write_json(tmpdir() . "/probed-$o{name}.json", {
        region => $o{region} // 't1',
        log_level => 'info',
        redis => { host => '127.0.0.1', port => $o{redis}->{port} + 0 },
        defaults => {
            interval => $o{interval} // 1, timeout => 0.5,
            down_after => 1, up_after => 1,
            flap_threshold => $o{flap_threshold} // 5,
            flap_halflife => $o{flap_halflife} // 600,
            %{ $o{defaults} // {} },
        },
        accounts => $o{accounts},
        %{ $o{extra} // {} },
    });
    my $bin = "$Root/probed/probed";
    die "$bin is not built (make -C probed)\n" unless -x $bin;
    my $p = spawn('probed', tmpdir() . "/probed-$o{name}.log", $bin, '-c',
                  $conf);
    return $p;
}


sub start_alertd {
    my (%o) = @_;
    my $conf = write_json(tmpdir() . "/alertd-$o{name}.json", {
        log_level => 'info',
        accounts => $o{accounts},
        redis => { host => '127.0.0.1', port => $o{redis}->{port} + 0 },
        cooldown => $o{cooldown} // 60,
        recovery_hold => $o{hold} // 1,
        storm_window => $o{window} // 1,
        storm_threshold => $o{threshold} // 5,
        tick => 0.2,
        smtp => { url => "smtp://127.0.0.1:$o{smtp_port}",
                  from => 'devmon@test.invalid', starttls => 'off' },
        retry => { min => 0.5, max => 2 },
        %{ $o{extra} // {} },
    });
    my $bin = "$Root/alertd/devmon-alertd";
    die "$bin is not built (make -C alertd)\n" unless -x $bin;
    my $p = spawn('alertd', tmpdir() . "/alertd-$o{name}.log", $bin, '-c',
                  $conf);
    $p->{conf} = $conf;
    return $p;
}


1;
