package Devmon::JWT;

# Test keys and tokens for devmon's auth suites.  Keys are made by the
# openssl command line in a directory of the test's own (nothing is
# committed); tokens are minted here: HS* with Digest::SHA, RS*/ES* with
# "openssl dgst -sign" (ECDSA's DER signature converted to JWS r || s).
#
#     my $k = Devmon::JWT->new;                     # tmp dir, removed at exit
#     my $secret = $k->hs_secret('hs.key', 32);     # file + bytes
#     my $rsa = $k->rsa_key('rsa');                 # rsa.key, rsa.pub
#     my $ec = $k->ec_key('ec', 'P-256');           # ec.key, ec.pub
#     $k->jwks('keys.json', [$rsa, 'r1'], [$ec, 'e1']);
#     my $t = $k->token(alg => 'RS256', key => $rsa, kid => 'r1',
#                       claims => { sub => 'alice', acct => 'acme',
#                                   exp => time + 60 });

use strict;
use warnings;

use Digest::SHA qw(hmac_sha256 hmac_sha384 hmac_sha512);
use File::Temp qw(tempdir);
use JSON::PP ();
use MIME::Base64 qw(encode_base64 decode_base64);

my %COORD = ('P-256' => 32, 'P-384' => 48, 'P-521' => 66);
my %CURVE_OF = (ES256 => 'P-256', ES384 => 'P-384', ES512 => 'P-521');


sub new {
    my ($class, %o) = @_;
    my $dir = $o{dir} // tempdir('devmon-jwt-XXXXXX', TMPDIR => 1,
                                 CLEANUP => 1);

    return bless { dir => $dir,
                   json => JSON::PP->new->canonical->utf8 }, $class;
}


sub dir { $_[0]{dir} }


sub b64url {
    my $s = encode_base64(shift, '');

    $s =~ tr{+/}{-_};
    $s =~ s/=+$//;
    return $s;
}


sub b64url_decode {
    my $s = shift;

    $s =~ tr{-_}{+/};
    $s .= '=' x ((4 - length($s) % 4) % 4);
    return decode_base64($s);
}


sub openssl {
    my ($self, @args) = @_;
    my $out = qx{openssl @args 2>&1};

    die "openssl @args failed: $out\n" if $? != 0;
    return $out;
}


# A random secret of $bytes bytes (printable hex, so its file is text),
# written to $name with a trailing newline the module strips.  Returns
# the secret as the module uses it.
sub hs_secret {
    my ($self, $name, $bytes) = @_;
    my $secret = join '', map { sprintf '%02x', int rand 256 }
                 1 .. ($bytes + 1) / 2;

    $secret = substr $secret, 0, $bytes;
    write_file("$self->{dir}/$name", "$secret\n");
    return $secret;
}


sub rsa_key {
    my ($self, $name, $bits) = @_;
    my $base = "$self->{dir}/$name";

    $self->openssl("genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:"
                   . ($bits // 2048) . " -out $base.key");
    $self->openssl("pkey -in $base.key -pubout -out $base.pub");

    return { type => 'RSA', key => "$base.key", pub => "$base.pub",
             pem => read_file("$base.pub") };
}


sub ec_key {
    my ($self, $name, $curve) = @_;
    my $base = "$self->{dir}/$name";

    $self->openssl("genpkey -algorithm EC -pkeyopt ec_paramgen_curve:$curve"
                   . " -out $base.key");
    $self->openssl("pkey -in $base.key -pubout -out $base.pub");

    return { type => 'EC', curve => $curve, key => "$base.key",
             pub => "$base.pub", pem => read_file("$base.pub") };
}


# A JWKS file of public keys: list of [key, kid] pairs.
sub jwks {
    my ($self, $name, @pairs) = @_;
    my @keys;

    for my $p (@pairs) {
        my ($k, $kid) = @$p;

        if ($k->{type} eq 'RSA') {
            my $mod = $self->openssl("rsa -pubin -in $k->{pub} -noout "
                                     . "-modulus");
            my $txt = $self->openssl("rsa -pubin -in $k->{pub} -noout -text");

            $mod =~ /Modulus=([0-9A-F]+)/ or die "no modulus: $mod\n";
            my $n = pack 'H*', $1;
            $txt =~ /Exponent: (\d+)/ or die "no exponent: $txt\n";
            my $e = int_bytes($1);

            push @keys, { kty => 'RSA', use => 'sig', kid => $kid,
                          n => b64url($n), e => b64url($e) };

        } else {
            my $txt = $self->openssl("pkey -pubin -in $k->{pub} -noout "
                                     . "-text");
            $txt =~ /pub:\s*\n((?:\s+[0-9a-f:]+\n)+)/
                or die "no EC point: $txt\n";
            (my $hex = $1) =~ s/[\s:]//g;
            my $point = pack 'H*', $hex;
            my $c = $COORD{$k->{curve}};

            die "not an uncompressed point\n"
                if length $point != 1 + 2 * $c || ord $point != 4;

            push @keys, { kty => 'EC', kid => $kid, crv => $k->{curve},
                          x => b64url(substr $point, 1, $c),
                          y => b64url(substr $point, 1 + $c, $c) };
        }
    }

    my $file = "$self->{dir}/$name";
    write_file($file, $self->{json}->encode({ keys => \@keys }));
    return $file;
}


# A compact JWS.  %o: alg, key (secret string, or a key from rsa_key /
# ec_key), kid, claims (hash), header (hash replacing the default one),
# header_json / claims_json (exact text), sign_as (sign with this alg
# although the header says alg: for forgeries).
sub token {
    my ($self, %o) = @_;
    my $alg = $o{alg} // 'HS256';
    my $header = $o{header_json}
                 // $self->{json}->encode($o{header}
                    // { alg => $alg, typ => 'JWT',
                         defined $o{kid} ? (kid => $o{kid}) : () });
    my $claims = $o{claims_json} // $self->{json}->encode($o{claims} // {});
    my $input = b64url($header) . '.' . b64url($claims);

    return "$input." if !defined $o{key};

    return "$input." . b64url($self->sign($o{sign_as} // $alg, $o{key},
                                          $input));
}


sub sign {
    my ($self, $alg, $key, $input) = @_;
    my ($kind, $bits) = $alg =~ /^([HRE])S(256|384|512)$/
        or die "cannot sign $alg\n";

    if ($kind eq 'H') {
        my $secret = ref $key ? $key->{pem} : $key;
        return $bits == 256 ? hmac_sha256($input, $secret)
             : $bits == 384 ? hmac_sha384($input, $secret)
             : hmac_sha512($input, $secret);
    }

    my $in = "$self->{dir}/.sign-input";
    my $out = "$self->{dir}/.sign-output";

    write_file($in, $input);
    $self->openssl("dgst -sha$bits -sign $key->{key} -out $out $in");

    my $sig = read_file($out);

    return $sig if $kind eq 'R';

    # ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } (DER)
    my $c = $COORD{$key->{curve}};
    my $pos = 0;
    my $der_len = sub {
        my $l = ord substr $sig, $pos++, 1;
        return $l if $l < 0x80;
        my $n = $l & 0x7f;
        $l = 0;
        $l = $l * 256 + ord substr $sig, $pos++, 1 for 1 .. $n;
        return $l;
    };

    die "bad ECDSA signature\n" if ord(substr $sig, $pos++, 1) != 0x30;
    $der_len->();

    my $raw = '';

    for (1 .. 2) {
        die "bad ECDSA integer\n" if ord(substr $sig, $pos++, 1) != 0x02;
        my $l = $der_len->();
        my $int = substr $sig, $pos, $l;
        $pos += $l;
        $int =~ s/^\x00+//;
        $raw .= ("\x00" x ($c - length $int)) . $int;
    }

    return $raw;
}


# Parts of a token that any leak would show, for --- no_error_log.
sub fragments {
    my $t = pop;
    my ($h, $p, $s) = split /\./, $t;

    return grep { defined && length } (substr($p // '', 0, 24),
                                       length($s // '') >= 16
                                       ? substr($s, -16) : ());
}


sub int_bytes {
    my $n = shift;
    my $b = '';

    while ($n > 0) {
        $b = chr($n % 256) . $b;
        $n = int($n / 256);
    }

    return $b;
}


sub write_file {
    my ($file, $data) = @_;

    open my $fh, '>:raw', $file or die "cannot write $file: $!\n";
    print $fh $data;
    close $fh or die "cannot write $file: $!\n";
}


sub read_file {
    my $file = shift;

    open my $fh, '<:raw', $file or die "cannot read $file: $!\n";
    local $/;
    my $data = <$fh>;
    close $fh;
    return $data;
}


1;
