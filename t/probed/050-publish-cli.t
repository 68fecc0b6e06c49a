# devmon-publish: one event from arguments, many from stdin (in order),
# "ID EPOCH" printed per event, the same script and keys as probed, and a
# clear failure when Redis is not there.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Devmon::Probed;

my $pub = bin('devmon-publish');
my $dir = tmp_dir();
my $port = 6436;
my $redis = start_redis($dir, $port);

my $out = `$pub -p $port acme 'sw1|fra|icmp' '{"d":"sw1","r":"fra","k":"icmp","t":1,"st":"up"}'`;
is($? >> 8, 0, 'single event published');
like($out, qr/^(\d+-\d+) (\d+)\n$/, 'prints ID EPOCH');
my ($id, $epoch) = $out =~ /^(\S+) (\S+)/;

my @ev = stream_events($port, 'acme');
is($ev[0]{id}, $id, 'stream entry has the printed id');
is(redis_cmd($port, 'GET', 'devmon:{acme}:epoch'), $epoch, 'epoch key matches');
is(state_hash($port, 'acme')->{'sw1|fra|icmp'},
   qq({"id":"$id","d":"sw1","r":"fra","k":"icmp","t":1,"st":"up"}),
   'state hash holds the event with id first');

open my $fh, '>', "$dir/in.txt" or die;
print $fh "acme - {\"n\":$_}\n" for 1 .. 500;
close $fh;
my @lines = `$pub -p $port -w 100000 < $dir/in.txt`;
is($? >> 8, 0, 'stdin mode exit 0');
is(scalar @lines, 500, 'one line printed per event');
@ev = grep { exists $_->{n} } stream_events($port, 'acme');
is_deeply([ map { $_->{n} } @ev ], [ 1 .. 500 ], 'published in input order');
my @ids = map { (split ' ')[0] } @lines;
is_deeply(\@ids, [ map { $_->{id} } @ev ], 'printed ids are the stream ids, in order');
ok(!exists state_hash($port, 'acme')->{''}, 'field "-" stores no state');

$out = `$pub -p 6430 a b '{}' 2>&1`;
isnt($? >> 8, 0, 'no Redis: non-zero exit');
like($out, qr/devmon-publish: .*refused/i, 'no Redis: says why');

$out = `$pub -p $port a b 'not-json' 2>&1`;
isnt($? >> 8, 0, 'non-object event refused');

stop_redis($redis);
done_testing();
