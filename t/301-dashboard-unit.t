#!/usr/bin/perl
# 301-dashboard-unit.t: devmon.js and the page's pure logic under node --test.
#
# Backoff, stream id order, resume bookkeeping, close codes, median
# colouring, the probe ring buffer and CSV/JSON export
# (t/dashboard/unit/*.test.mjs).  Each node test is one TAP test here.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use Test::More;

my $root = $ENV{DEVMON_ROOT} // abs_path(dirname(__FILE__) . '/..');
my $dir = "$root/t/dashboard/unit";

my $node = `sh -c 'command -v node'`;
chomp $node;

if ($node eq '') {
    fail('node is installed (Debian: apt-get install nodejs)');
    done_testing();
    exit;
}

opendir(my $dh, $dir) or die "$dir: $!";
my @files = sort map { "$dir/$_" } grep { /\.test\.mjs$/ } readdir $dh;
closedir $dh;

ok(scalar @files >= 2, 'unit test files found in t/dashboard/unit');

my $pid = open(my $out, '-|') // die "fork: $!";

if ($pid == 0) {
    open(STDERR, '>&', \*STDOUT);
    exec($node, '--test', '--test-reporter=tap', @files)
        or die "exec $node: $!";
}

my ($count, @log) = (0);

local $SIG{ALRM} = sub { kill 'KILL', $pid; die "node --test timed out\n" };
alarm 120;

while (my $line = <$out>) {
    push @log, $line;

    # top-level results only; subtests are indented
    # a node test marked SKIP or TODO fails here: nothing skipped passes
    if ($line =~ /^(not )?ok \d+ - (.*?)(?: # (SKIP|TODO).*)?$/) {
        my ($failed, $name, $directive) = ($1, $2, $3);

        $count++;
        ok(!$failed && !$directive, "node: $name")
            or diag(join('', @log[($#log > 40 ? $#log - 40 : 0) .. $#log]));
    }
}

close $out;
alarm 0;

is($? >> 8, 0, 'node --test exited 0') or diag(join('', @log));
ok($count >= 15, "node ran the unit tests ($count)");

done_testing();
