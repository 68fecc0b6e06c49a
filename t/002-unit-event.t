# Runs the event parsing unit tests (t/unit/test_event.c, TAP output):
# $DEVMON_BUILD/unit/event when 'make unit' built it, else compiled here.

use strict;
use warnings;

use File::Temp qw(tempdir);
use FindBin;

my $root = $ENV{DEVMON_ROOT} // "$FindBin::Bin/..";
my $bin = defined $ENV{DEVMON_BUILD} ? "$ENV{DEVMON_BUILD}/unit/event" : '';

if (!-x $bin) {
    my $dir = tempdir(CLEANUP => 1);

    $bin = "$dir/event";

    system($ENV{CC} // 'cc', qw(-g -O1 -Wall -Wextra -Werror),
           "-I$root/ngx_devmon_module", '-o', $bin,
           "$root/ngx_devmon_module/ngx_devmon_event.c",
           "$root/t/unit/test_event.c") == 0
        or die "cannot compile the event unit tests\n";
}

system($bin) == 0 or exit 1;
