package Test::Nginx::Util;

# devmon's own minimal stand-in for the CPAN Test::Nginx::Util (server
# root, nginx.conf, starting/stopping nginx, error log access).  Written
# from the documented interface of openresty/test-nginx; used only when
# the real Test::Nginx is not installed (see the Makefile's TEST_ENV).

use strict;
use warnings;

use base 'Exporter';

use Cwd ();
use File::Path qw(make_path remove_tree);
use File::Spec ();
use IO::Socket::INET ();
use List::Util qw(shuffle);
use POSIX qw(SIGQUIT SIGKILL SIGTERM WNOHANG);
use Time::HiRes qw(sleep time);

our $VERSION = '0.01_devmon_fallback';

our $NginxBinary = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $LoadModules = $ENV{TEST_NGINX_LOAD_MODULES};
our $ServerAddr = '127.0.0.1';
our $ServerName = 'localhost';
our $ServerPort = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT}
                  || 1984;
our $ServerPortForClient = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;
our $Workers = 1;
our $WorkerConnections = 64;
our $LogLevel = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcessEnabled = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $Timeout = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $TestNginxSleep = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $RepeatEach = 1;
our $NoShuffle = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $NoRootLocation = 0;
our $NoLongString = 0;
our $CheckAccumErrLog = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $ForceRestartOnTest = $ENV{TEST_NGINX_FORCE_RESTART_ON_TEST} // 1;
our $Verbose = $ENV{TEST_NGINX_VERBOSE};
our $ConfigPreamble = '';
our (@EnvToNginx, @BlockPreprocessors, @CleanupHandlers);
our ($NginxVersion, $PrevConfig, $PrevBlock, $RunTestHelper,
     $CheckErrorLog);
our $ErrLogFilePos = 0;

our $ServRoot = $ENV{TEST_NGINX_SERVROOT}
                || File::Spec->rel2abs('t/servroot');
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

our $LogDir = "$ServRoot/logs";
our $ErrLogFile = "$LogDir/error.log";
our $AccLogFile = "$LogDir/access.log";
our $HtmlDir = "$ServRoot/html";
our $ConfDir = "$ServRoot/conf";
our $ConfFile = "$ConfDir/nginx.conf";
our $PidFile = "$LogDir/nginx.pid";

our @EXPORT = qw(
    $ServerAddr $ServerName $ServerPort $ServerPortForClient
    $NginxVersion $PidFile $ServRoot $ConfFile $RunTestHelper
    $CheckErrorLog $RepeatEach $NoLongString
    env_to_nginx is_str check_accum_error_log is_running no_long_string
    server_addr server_name parse_time sleep_time bail_out
    add_cleanup_handler access_log_data error_log_data trim
    parse_headers run_tests get_pid_from_pidfile add_block_preprocessor
    timeout worker_connections workers master_on master_off
    config_preamble repeat_each master_process_enabled log_level
    no_shuffle no_root_location html_dir server_root server_port
    server_port_for_client
);


# Settings, as functions: called with an argument they set, without they
# return the current value.

sub server_addr { @_ ? ($ServerAddr = shift) : $ServerAddr }
sub server_name { @_ ? ($ServerName = shift) : $ServerName }
sub server_port { @_ ? ($ServerPort = shift) : $ServerPort }
sub server_port_for_client {
    @_ ? ($ServerPortForClient = shift) : $ServerPortForClient
}
sub timeout { @_ ? ($Timeout = shift) : $Timeout }
sub workers { @_ ? ($Workers = shift) : $Workers }
sub worker_connections {
    @_ ? ($WorkerConnections = shift) : $WorkerConnections
}
sub log_level { @_ ? ($LogLevel = shift) : $LogLevel }
sub repeat_each { @_ ? ($RepeatEach = shift) : $RepeatEach }
sub master_on { $MasterProcessEnabled = 'on' }
sub master_off { $MasterProcessEnabled = 'off' }
sub master_process_enabled {
    return $MasterProcessEnabled unless @_;
    $MasterProcessEnabled = shift() ? 'on' : 'off';
}
sub no_shuffle { $NoShuffle = 1 }
sub no_root_location { $NoRootLocation = 1 }
sub no_long_string { $NoLongString = 1 }
sub check_accum_error_log { $CheckAccumErrLog = 1 }
sub config_preamble { $ConfigPreamble = shift }
sub html_dir { $HtmlDir }
sub server_root { $ServRoot }
sub sleep_time { $TestNginxSleep }
sub add_block_preprocessor(&) { unshift @BlockPreprocessors, shift }
sub add_cleanup_handler { unshift @CleanupHandlers, shift }


# A zombie is not running: nginx daemonizes, so its exit is reaped by
# init, which may take a while.
sub is_running {
    my $pid = shift;

    return 0 unless $pid && kill(0, $pid);

    open my $in, '<', "/proc/$pid/stat" or return 1;
    my $stat = <$in> // '';
    close $in;

    return $stat !~ /^\d+ \(.*\) Z/;
}


sub env_to_nginx {
    die "env_to_nginx: no arguments\n" unless @_;

    for my $v (@_) {
        die "env_to_nginx: bad value: $v\n" if $v !~ /^[A-Za-z_]/
                                               || $v =~ /\n/;
        push @EnvToNginx, $v;
    }
}


sub is_str {
    my ($got, $expected, $desc) = @_;

    if (ref $expected && ref $expected eq 'Regexp') {
        return Test::More::like($got, $expected, $desc);
    }

    return Test::More::is($got, $expected, $desc);
}


# "1.5", "200ms" or "2s" -> seconds
sub parse_time {
    my $t = shift;

    return undef unless defined $t;
    $t =~ s/\s+//g;
    return $1 / 1000 if $t =~ /^([\d.]+)ms$/;
    return $1 if $t =~ /^([\d.]+)s?$/;
    return $t;
}


sub trim {
    my $s = shift;

    return undef unless defined $s;
    $s =~ s/^\s+|\s+$//g;
    $s =~ s/\s+/ /g;
    return $s;
}


# "Name: value" lines -> { name => value }; "!Name" means "must be absent"
sub parse_headers {
    my $s = shift;
    my %h;

    for my $line (split /\n/, $s // '') {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';

        if ($line =~ s/^!\s*//) {
            $h{$line} = undef;
            next;
        }

        my ($k, $v) = split /\s*:\s*/, $line, 2;
        $h{$k} = $v // '';
    }

    return \%h;
}


sub cleanup {
    $_->() for @CleanupHandlers;
}


sub bail_out {
    cleanup();
    stop_nginx('bail_out');
    Test::More::BAIL_OUT(join '', @_);
}


sub get_pid_from_pidfile {
    open my $in, '<', $PidFile or return undef;
    my $pid = <$in>;
    close $in;

    return undef unless defined $pid;
    chomp $pid;
    return $pid =~ /^\d+$/ ? $pid : undef;
}


# Replace $TEST_NGINX_FOO with $ENV{TEST_NGINX_FOO}; a missing variable
# stops the run loudly, as in the real Test::Nginx.
sub expand_env_in_text {
    my ($text, $name) = @_;

    return $text unless defined $text;

    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        defined $ENV{$1} ? $ENV{$1}
                         : bail_out("$name - No environment $1 defined.\n")
    }ge;

    return $text;
}


sub get_nginx_version {
    my $out = `$NginxBinary -V 2>&1`;

    if ($? != 0 || $out !~ m{nginx/(\d+)\.(\d+)\.(\d+)}) {
        bail_out("cannot run \"$NginxBinary -V\": $out");
    }

    return sprintf "%d.%03d%03d", $1, $2, $3;
}


sub error_log_data {
    sleep $TestNginxSleep * 3;

    open my $in, '<', $ErrLogFile or return [];

    seek $in, $ErrLogFilePos, 0 if !$CheckAccumErrLog && $ErrLogFilePos;
    my @lines = <$in>;
    $ErrLogFilePos = tell $in unless $CheckAccumErrLog;
    close $in;

    return \@lines;
}


sub access_log_data {
    sleep $TestNginxSleep * 3;

    open my $in, '<', $AccLogFile or return [];
    my @lines = <$in>;
    close $in;

    return \@lines;
}


sub setup_server_root {
    remove_tree($ConfDir, $HtmlDir, $LogDir, glob("$ServRoot/*_temp"));
    make_path($ConfDir, $HtmlDir, $LogDir);

    open my $out, '>', "$HtmlDir/index.html"
        or bail_out("cannot write $HtmlDir/index.html: $!");
    print $out '<html><head><title>It works!</title></head>'
               . '<body>It works!</body></html>';
    close $out;
}


# --- user_files: ">>> name" lines start a file (relative to html_dir)
sub write_user_files {
    my $block = shift;
    my $files = $block->user_files;

    return unless $files;

    if (!ref $files) {
        my ($list, $cur) = ([], undef);

        for my $line (split /^/, $files) {
            if ($line =~ /^>>> (\S+)/) {
                $cur = [$1, ''];
                push @$list, $cur;

            } elsif ($cur) {
                $cur->[1] .= $line;
            }
        }

        $files = $list;
    }

    for my $f (@$files) {
        my ($fname, $body) = @$f;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";

        make_path($1) if $path =~ m{(.*)/} && !-d $1;
        open my $out, '>', $path or bail_out("cannot write $path: $!");
        binmode $out;
        print $out expand_env_in_text($body // '', $block->name);
        close $out;
    }
}


sub write_config_file {
    my ($block, $config) = @_;
    my $name = $block->name;

    my $main = expand_env_in_text($block->main_config // '', $name);
    my $http = expand_env_in_text($block->http_config // '', $name);
    my $post = expand_env_in_text($block->post_main_config // '', $name);
    my $env = join '', map { "env $_;\n" } @EnvToNginx;
    my $user = $> == 0 ? "user root;\n" : '';
    my $modules = '';

    for my $so (grep { length } split /\s+/, $LoadModules // '') {
        $modules .= "load_module $so;\n";
    }

    my $root = $NoRootLocation ? '' : <<"_EOC_";
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_

    open my $out, '>', $ConfFile or bail_out("cannot write $ConfFile: $!");
    print $out <<"_EOC_";
worker_processes  $Workers;
daemon on;
master_process $MasterProcessEnabled;
error_log $ErrLogFile $LogLevel;
pid       $PidFile;
$env$user
$modules
$main

http {
    access_log $AccLogFile;
    default_type text/plain;
    keepalive_timeout  68;

$http

    server {
        listen          $ServerPort;
        server_name     '$ServerName';
        client_max_body_size 30M;

$ConfigPreamble

        # Begin test case config...
$config
        # End test case config.

$root    }
}

$post

events {
    accept_mutex off;
    worker_connections  $WorkerConnections;
}
_EOC_
    close $out;
}


# Stop the nginx of the previous block (QUIT, then KILL) and run its
# shutdown_error_log checks.
sub stop_nginx {
    my $name = shift;
    my $pid = get_pid_from_pidfile();

    if (is_running($pid)) {
        kill SIGQUIT, $pid;

        my $deadline = time + $Timeout;
        while (is_running($pid) && time < $deadline) {
            waitpid($pid, WNOHANG);
            sleep 0.02;
        }

        if (is_running($pid)) {
            warn "$name - nginx $pid did not quit in time; killing it\n";
            kill SIGKILL, $pid;
            sleep 0.05;
        }
    }

    unlink $PidFile;

    if ($PrevBlock && (defined $PrevBlock->shutdown_error_log
                       || defined $PrevBlock->no_shutdown_error_log))
    {
        check_shutdown_error_log($PrevBlock);
    }

    undef $PrevBlock;
}


sub port_open {
    my $sock = IO::Socket::INET->new(PeerAddr => $ServerAddr,
                                     PeerPort => $ServerPortForClient,
                                     Proto => 'tcp', Timeout => 0.2);
    return 0 unless $sock;
    close $sock;
    return 1;
}


# Start nginx for a block.  "-e" sends startup messages (config errors
# included) to the block's error.log, so --- error_log can check the
# reason of a --- must_die failure.  Returns false when nginx is not
# meant to serve requests for this block.
sub start_nginx {
    my ($block, $config) = @_;
    my $name = $block->name;
    my $must_die = $block->must_die;
    my $stderr = "$LogDir/startup.stderr";
    my $cmd = "$NginxBinary -p $ServRoot/ -c $ConfFile -e $ErrLogFile"
              . " >/dev/null 2>$stderr";

    setup_server_root();
    write_user_files($block);
    write_config_file($block, $config);

    if (defined $must_die) {
        for my $i (0 .. $RepeatEach - 1) {
            system($cmd);
            my $status = $?;

            if ($status == -1) {
                Test::More::fail("$name - failed to execute nginx");

            } elsif ($status & 127) {
                Test::More::fail("$name - nginx died by signal "
                                 . ($status & 127));

            } elsif ($must_die =~ /^\s*\d+\s*$/) {
                Test::More::is($must_die, $status >> 8,
                               "$name - die with the expected exit code");

            } else {
                Test::More::isnt($status, 0, "$name - die as expected");
            }

            $ErrLogFilePos = 0;
            $CheckErrorLog->($block, undef, 0, $i, 0);

            if ($status == 0) {
                warn "WARNING: $name - nginx must die but it does not\n";
                sleep 0.2;
                stop_nginx($name);
            }
        }

        return 0;
    }

    # Retry only while the previous nginx still holds the port.  Unlike
    # the real Test::Nginx, a failed start fails the block instead of
    # bailing out, so that "prove -r t" still runs the other files.
    my $deadline = time + 10;

    while (1) {
        system($cmd);
        last if $? == 0;

        my $err = slurp($stderr);

        if ($err !~ /Address already in use/ || time > $deadline) {
            Test::More::fail("$name - cannot start nginx: \"$cmd\": $err");
            return 0;
        }

        sleep 0.2;
    }

    # daemon on: wait until the server accepts connections
    for (1 .. 100) {
        return 1 if port_open();
        sleep 0.02;
    }

    Test::More::fail("$name - nginx started but does not listen on "
                     . "$ServerAddr:$ServerPortForClient");
    return 0;
}


sub slurp {
    my $file = shift;

    open my $in, '<', $file or return '';
    local $/;
    my $data = <$in>;
    close $in;

    return $data // '';
}


sub check_shutdown_error_log {
    my $block = shift;
    my $name = $block->name;
    my $lines = error_log_data();

    for my $kind (qw(shutdown_error_log no_shutdown_error_log)) {
        my $pats = $block->$kind;
        next unless defined $pats;

        for my $pat (@{ pattern_list($pats) }) {
            my $hit = grep { match_line($_, $pat) } @$lines;
            my $want = $kind eq 'shutdown_error_log';
            Test::More::ok($want ? $hit : !$hit,
                           "$name - pattern \"$pat\" "
                           . ($want ? "matches" : "does not match")
                           . " a line in error.log (shutdown)");
        }
    }
}


# A section value -> list of patterns: text gives one per line, a Regexp
# gives itself, an array gives a copy.
sub pattern_list {
    my $pats = shift;

    if (!ref $pats) {
        chomp $pats;
        return [grep { length } split /\n+/, $pats];
    }

    return [$pats] if ref $pats eq 'Regexp';
    return [@$pats];
}


sub match_line {
    my ($line, $pat) = @_;

    return ref $pat ? $line =~ $pat : index($line, $pat) >= 0;
}


sub run_test {
    my $block = shift;
    my $name = $block->name;
    my $config = expand_env_in_text($block->config, $name);

    local $LogLevel = $block->log_level ? $block->log_level : $LogLevel;

    if (!defined $config) {
        bail_out("$name - no --- config and no previous one")
            unless defined $PrevConfig;
        $config = $PrevConfig;
    }

    my $restart = defined $block->must_die || $ForceRestartOnTest
                  || !defined $PrevConfig || $config ne $PrevConfig
                  || !is_running(get_pid_from_pidfile());

    if ($restart) {
        stop_nginx($name);
        $PrevConfig = $config;

        if (!start_nginx($block, $config)) {
            undef $PrevConfig;
            return;
        }

    } else {
        write_user_files($block);
    }

    if (defined $block->init) {
        eval $block->init;
        bail_out("$name - init failed: $@") if $@;
    }

    $ErrLogFilePos = 0;

    for my $i (0 .. $RepeatEach - 1) {
        write_user_files($block) if $i > 0;
        $RunTestHelper->($block, 0, $i);
    }
}


sub run_tests {
    my @blocks = Test::Base::blocks();

    $NginxVersion = get_nginx_version();
    $ENV{TEST_NGINX_SERVER_PORT} //= $ServerPort;

    @blocks = shuffle @blocks unless $NoShuffle;

    for my $block (@blocks) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value('name', "$0 " . $block->name);
        run_test($block);
        $PrevBlock = $block;
    }

    cleanup();
}


END {
    local $?;

    cleanup();
    stop_nginx('END') unless $ENV{TEST_NGINX_NO_CLEAN};
}


1;
