# Runs the event parsing unit tests (t/unit/test_event.c, TAP output),
# built by 'make unit'.

use strict;
use warnings;

my $bin = "$ENV{DEVMON_BUILD}/unit/event";

-x $bin or die "$bin is missing: run 'make unit' first\n";

exec $bin or die "cannot run $bin: $!\n";
