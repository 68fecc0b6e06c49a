# Runs the WebSocket codec unit tests (t/unit/test_ws_codec.c, TAP output).

use strict;
use warnings;

my $build = $ENV{DEVMON_BUILD}
    or die "DEVMON_BUILD is not set: run the tests with 'make test'\n";
my $bin = "$build/unit/ws_codec";

-x $bin or die "$bin is missing: build it with 'make unit'\n";

exec $bin or die "cannot run $bin: $!\n";
