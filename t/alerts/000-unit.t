#!/usr/bin/perl
# alertd's pure logic (decisions, encodings, preferences): the C unit test.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use AlertTest;

my $dir = root() . '/alertd';
my $out = `make -s -C $dir tests/unit 2>&1`;
is($?, 0, 'alertd unit test builds') or diag($out);

my @lines = `$dir/tests/unit`;
is($? >> 8, 0, 'alertd unit test passes');
my ($plan) = grep { /^1\.\.\d+/ } @lines;
my @bad = grep { /^not ok/ } @lines;
ok($plan && $plan =~ /^1\.\.(\d+)/ && $1 >= 20, 'all unit checks ran');
is(scalar(@bad), 0, 'no unit check failed') or diag(@bad);

done_testing();
