#!/usr/bin/perl
# probed's pure logic (config table, state machine, scheduler, encodings,
# backlog): the C unit test, its TAP passed through as subtests.

use strict;
use warnings;
use FindBin;
use Test::More;

my $root = $ENV{DEVMON_ROOT} || "$FindBin::Bin/../..";
my $dir = "$root/probed";

my $out = `make -s -C $dir tests/unit 2>&1`;
is($?, 0, 'probed unit test builds') or diag($out);

my @lines = `$dir/tests/unit`;
is($? >> 8, 0, 'probed unit test exits 0');

my ($plan) = grep { /^1\.\.\d+/ } @lines;
my @bad = grep { /^not ok/ } @lines;
my @good = grep { /^ok/ } @lines;

ok($plan && $plan =~ /^1\.\.(\d+)/ && $1 == @good + @bad && $1 >= 20,
   'every planned unit check ran') or diag($plan // 'no plan');
is(scalar(@bad), 0, 'no unit check failed') or diag(@bad);

done_testing();
