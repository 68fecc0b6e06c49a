# Runs the C unit tests of the token validator (ngx_devmon_jwt.c); TAP.

use strict;
use warnings;

my $build = $ENV{DEVMON_BUILD}
    or die "DEVMON_BUILD is not set: run the tests with 'make test'\n";
my $bin = "$build/unit/jwt";

-x $bin or die "$bin is missing: run 'make unit'\n";

exec $bin or die "cannot run $bin: $!\n";
