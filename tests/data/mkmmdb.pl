#!/usr/bin/perl
# mkmmdb.pl DIR - write the small GeoIP databases the tests read: DIR/country.mmdb, DIR/country2.mmdb
# (the same networks in other countries, for the reload test) and DIR/asn.mmdb, with the field names of
# MaxMind's GeoLite2-Country and GeoLite2-ASN. Needs Debian's libmaxmind-db-writer-perl.
use strict;
use warnings;
use MaxMind::DB::Writer::Tree;

my $dir = shift or die "usage: mkmmdb.pl DIR\n";
my %types = (
    country => 'map', registered_country => 'map', iso_code => 'utf8_string',
    autonomous_system_number => 'uint32', autonomous_system_organization => 'utf8_string',
);

sub write_db {
    my ($path, $type, $nets) = @_;
    my $tree = MaxMind::DB::Writer::Tree->new(
        ip_version => 6, record_size => 24, database_type => $type, languages => ['en'],
        description => { en => "floodgate test $type" },
        map_key_type_callback => sub { $types{ $_[0] } },
        alias_ipv6_to_ipv4 => 1,         # ::ffff:a.b.c.d and friends find the IPv4 records
        remove_reserved_networks => 0,   # the tests use the documentation ranges
    );
    $tree->insert_network($_->[0], $_->[1]) for @$nets;
    open my $fh, '>:raw', $path or die "$path: $!\n";
    $tree->write_tree($fh);
    close $fh or die "$path: $!\n";
}

write_db("$dir/country.mmdb", 'GeoLite2-Country', [
    ['192.0.2.0/24',     { country => { iso_code => 'DE' } }],
    ['198.51.100.0/24',  { country => { iso_code => 'CN' } }],
    ['203.0.113.0/24',   { registered_country => { iso_code => 'JP' } }],   # no country: the registered one
    ['2001:db8:1::/48',  { country => { iso_code => 'FR' } }],
]);
write_db("$dir/country2.mmdb", 'GeoLite2-Country', [
    ['192.0.2.0/24',     { country => { iso_code => 'US' } }],
]);
write_db("$dir/asn.mmdb", 'GeoLite2-ASN', [
    ['192.0.2.0/24',     { autonomous_system_number => 64500, autonomous_system_organization => 'Example A' }],
    ['198.51.100.0/24',  { autonomous_system_number => 64501, autonomous_system_organization => 'Example B' }],
    ['2001:db8:1::/48',  { autonomous_system_number => 64502, autonomous_system_organization => 'Example C' }],
]);
