#!/bin/sh
# Install the Debian packages that floodgate builds and tests with, if any is missing.
# apt-get update runs once, only when something has to be installed. Arguments: more packages.
set -e
PKGS="cmake make gcc pkg-config libevent-dev libhiredis-dev libpcre2-dev libconfig-dev libmaxminddb-dev \
libcmocka-dev libsystemd-dev redis-server valgrind libmaxmind-db-writer-perl mandoc libjansson-dev \
nginx-light dovecot-core dovecot-imapd wrk nftables ipset iproute2 libsodium-dev $*"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
