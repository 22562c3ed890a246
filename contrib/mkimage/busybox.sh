#!/bin/bash
# busybox.sh writes a minimal root filesystem tarball to stdout, built from
# Debian's busybox-static (a single static binary, so the image needs no libc):
#
#   contrib/mkimage/busybox.sh | wharf import - busybox:latest
#
# Environment: BUSYBOX (default /bin/busybox) picks the binary to package.
# The tarball is reproducible (fixed owners and mtimes), so importing it twice
# gives the same image.
set -euo pipefail

BUSYBOX=${BUSYBOX:-/bin/busybox}

die() { echo "busybox.sh: $*" >&2; exit 1; }

[ -x "$BUSYBOX" ] || die "$BUSYBOX not found (apt-get install -y busybox-static)"
# A dynamically linked busybox (Debian's "busybox" package) would need the
# host's libc inside the image; refuse it rather than build a broken image.
if command -v ldd >/dev/null && ldd "$BUSYBOX" >/dev/null 2>&1; then
	die "$BUSYBOX is dynamically linked; install busybox-static"
fi
[ -t 1 ] && die "refusing to write a tarball to a terminal; pipe it into 'wharf import - busybox:latest'"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/wharf-mkimage-busybox.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
root=$tmp/rootfs

mkdir -p "$root"/{bin,dev,etc,home,proc,root,sys,tmp,usr/bin,usr/sbin,sbin,var/www,var/spool/cron/crontabs}
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
install -m 0755 "$BUSYBOX" "$root/bin/busybox"
# Like the official busybox image, every applet is a symlink in /bin.
for applet in $("$BUSYBOX" --list); do
	[ "$applet" = busybox ] && continue
	ln -s busybox "$root/bin/$applet"
done

cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
www-data:x:33:33:www-data:/var/www:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$root/etc/group" <<'GROUP'
root:x:0:
www-data:x:33:
nogroup:x:65534:
GROUP
cat >"$root/etc/shadow" <<'SHADOW'
root:*:19000:0:99999:7:::
www-data:*:19000:0:99999:7:::
nobody:*:19000:0:99999:7:::
SHADOW
chmod 0640 "$root/etc/shadow"
# The engine bind-mounts its own copies over these; empty files give the
# mounts a target even if a runtime does not create missing ones.
: >"$root/etc/hosts"
: >"$root/etc/hostname"
: >"$root/etc/resolv.conf"
echo '<html><body>wharf busybox</body></html>' >"$root/var/www/index.html"

tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -C "$root" -cf - .
