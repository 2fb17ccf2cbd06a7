#!/bin/sh
# check.sh BUILD SOURCE - a Release build (-Werror, tests too), `cmake --install` into a DESTDIR, as a packager
# runs it, and check what lands where:
# programs, man pages (mandoc -T lint), units (systemd-analyze verify, with ExecStart pointed into DESTDIR),
# sysusers/tmpfiles snippets, the production configuration (it loads, with no ../run paths) and the examples.
set -eu
BUILD=$1
SRC=$2
D=$(mktemp -d /tmp/fginstall.XXXXXX)
trap 'rm -rf "$D"' EXIT INT TERM
fail() { echo "install check: $*" >&2; exit 1; }

B="$D/build"
# a packager's Release build, tests included and with -Werror: -O3 warns about more than make test's
# RelWithDebInfo (-Wformat-truncation), and every build type must compile
cmake -S "$SRC" -B "$B" -DCMAKE_INSTALL_PREFIX=/usr -DFG_TESTS=ON -DFG_WERROR=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$B" -j 2 >"$D/build.log" 2>&1 || { grep -E 'error|warning' "$D/build.log" | head -20 >&2;
                                                  fail "the Release build (FG_WERROR=ON) fails"; }
DESTDIR="$D/root" cmake --install "$B" >/dev/null
R="$D/root"
unitdir=$(pkg-config --variable=systemdsystemunitdir systemd)
for f in /usr/sbin/floodgated /usr/bin/floodgatectl /usr/share/man/man8/floodgated.8 /usr/share/man/man8/floodgatectl.8 \
         /usr/share/man/man5/floodgate.conf.5 "$unitdir/floodgate.service" "$unitdir/floodgate.socket" \
         "$unitdir/floodgate-bans.path" "$unitdir/floodgate-bans.service" \
         /usr/lib/sysusers.d/floodgate.conf /usr/lib/tmpfiles.d/floodgate.conf /etc/floodgate/floodgate.conf \
         /etc/floodgate/lists/trusted-domains /usr/share/doc/floodgate/README.md /usr/share/doc/floodgate/examples/postfix.conf; do
  [ -f "$R$f" ] || fail "$f is not installed"
done
echo "installed: $(cd "$R" && find . -type f | wc -l) files"

# man pages: no lint warning, and no text line over 80 bytes (mandoc's STYLE note; man pages are read at 80 columns)
for m in "$R"/usr/share/man/man*/*; do
  mandoc -T lint -W warning "$m" || fail "mandoc -T lint: $m"
  long=$(mandoc -T lint -W style "$m" 2>&1 | grep 'longer than 80 bytes' || true)
  [ -z "$long" ] || fail "mandoc -T lint: $long"
done

# units: the paths follow the prefix, and systemd accepts them
grep -q '^ExecStart=/usr/sbin/floodgated -c /etc/floodgate/floodgate.conf$' "$R$unitdir/floodgate.service" ||
  fail "ExecStart does not follow the prefix"
grep -q '@FG_' "$R$unitdir/floodgate.service" && fail "an @VAR@ is left in the unit"
mkdir -p "$D/units"
sed "s|/usr/sbin/floodgated|$R/usr/sbin/floodgated|g" "$R$unitdir/floodgate.service" > "$D/units/floodgate.service"
cp "$R$unitdir/floodgate.socket" "$R$unitdir/floodgate-bans.path" "$R$unitdir/floodgate-bans.service" "$D/units/"
# the bans units load the nft export that floodgated writes into its StateDirectory
grep -q '^PathChanged=/var/lib/floodgate/bans.nft$' "$R$unitdir/floodgate-bans.path" || fail "floodgate-bans.path watches no export"
grep -q '^ExecStart=/usr/sbin/nft -f /var/lib/floodgate/bans.nft$' "$R$unitdir/floodgate-bans.service" ||
  fail "floodgate-bans.service does not load the export"
for u in "$D"/units/*; do
  out=$(MANPATH="$R/usr/share/man" systemd-analyze verify "$u" 2>&1 | grep -v -e 'Failed to \(create\|load\|put\|prepare\)' -e 'cgroup' -e 'bus' || true)
  [ -z "$out" ] || fail "systemd-analyze verify $(basename "$u"): $out"
done
echo "exposure: $(systemd-analyze security --offline=true "$D/units/floodgate.service" 2>/dev/null | sed -n 's/.*Overall exposure level for floodgate.service: //p')"

# the production configuration: loads as it is, paths are absolute or beside it, nothing of make run's
grep -q '\.\./run\|\./run' "$R/etc/floodgate/floodgate.conf" && fail "the production configuration names ./run"
# greylist passes survive a restart: the snapshot lives in the unit's StateDirectory, which it may write
grep -q '^ *snapshot *= *"/var/lib/floodgate/state";' "$R/etc/floodgate/floodgate.conf" ||
    fail "the production configuration keeps no snapshot in /var/lib/floodgate"
grep -q '^StateDirectory=floodgate$' "$R$unitdir/floodgate.service" || fail "floodgate.service has no StateDirectory"
sed -e "s|/var/spool/postfix/private/floodgate|$D/policy.sock|; s|/run/floodgate/control.sock|$D/control.sock|" \
    -e "s|/var/lib/floodgate/|$D/|" "$R/etc/floodgate/floodgate.conf" > "$R/etc/floodgate/test.conf"
"$R/usr/sbin/floodgated" -t -c "$R/etc/floodgate/test.conf" || fail "the installed configuration does not load"
echo "install check: OK"
