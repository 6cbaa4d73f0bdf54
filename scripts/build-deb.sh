#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds the Debian package from the installed layout (`make install DESTDIR=...`), offline:
#   scripts/build-deb.sh OUTPUT.deb        (what `make deb` runs)
# Architecture: all (the bundle is JavaScript). Depends: nodejs (>= 20) is met by Debian's own
# nodejs from trixie on, or by NodeSource's "nodejs" package (20.x) on bookworm, whose 18.x is too
# old; network-manager provides the D-Bus API, the dispatcher and the unit's ordering target.
set -eu
cd "$(dirname "$0")/.."
out=${1:?usage: build-deb.sh OUTPUT.deb}
version="$(node -p 'require("./package.json").version')-1"
root=$(mktemp -d "${TMPDIR:-/tmp}/nm-cloud-setup-deb.XXXXXX")
trap 'rm -rf "$root"' EXIT
chmod 0755 "$root"

# Debian 12 keeps systemd units in /lib/systemd/system (merged /usr makes it the same directory).
make -s install DESTDIR="$root" PREFIX=/usr UNITDIR=/lib/systemd/system
# The V8 code caches belong to the node that runs the tool on the target, not to this one: the
# package ships none, and postinst writes them (again on every node upgrade, through a trigger).
rm -f "$root"/usr/lib/nm-cloud-setup/*.v8-cache
node_flags=$(sed -n 's|^ExecStart=[^ ]* \(.*\) [^ ]*$|\1|p' systemd/nm-cloud-setup.service)
gzip -9n "$root/usr/share/man/man8/nm-cloud-setup.8"
doc=$root/usr/share/doc/nm-cloud-setup
install -d "$doc" "$root/usr/share/lintian/overrides" "$root/DEBIAN"
install -m 0644 packaging/deb/copyright "$doc/copyright"
printf 'nm-cloud-setup (%s) unstable; urgency=medium\n\n  * Package built from the source tree.\n\n -- %s  %s\n' \
    "$version" "$(sed -n 's/^Maintainer: //p' packaging/deb/control.in)" \
    "$(date -R -u -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")" \
    | gzip -9n >"$doc/changelog.Debian.gz"
install -m 0644 packaging/deb/lintian-overrides "$root/usr/share/lintian/overrides/nm-cloud-setup"
sed "s|@NODE_FLAGS@|$node_flags|" packaging/deb/postinst >"$root/DEBIAN/postinst"
install -m 0755 packaging/deb/postrm "$root/DEBIAN/"
chmod 0755 "$root/DEBIAN/postinst"
install -m 0644 packaging/deb/triggers "$root/DEBIAN/triggers"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@SIZE@/$size/" packaging/deb/control.in >"$root/DEBIAN/control"
(cd "$root" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums" "$root/DEBIAN/triggers"
dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
echo "$out"
