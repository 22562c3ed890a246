#!/bin/bash
# debian.sh writes a Debian minbase root filesystem tarball to stdout:
#
#   contrib/mkimage/debian.sh [suite] | wharf import -c 'CMD ["bash"]' - debian:bookworm-slim
#
# suite defaults to bookworm; MIRROR overrides the Debian mirror. The tarball is
# cached in /var/cache/wharf-mkimage (CACHE_DIR), so only the first call runs
# debootstrap; delete the cached file to rebuild. apt lists and downloaded
# .debs are stripped, like the official -slim images.
set -euo pipefail

suite=${1:-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
CACHE_DIR=${CACHE_DIR:-/var/cache/wharf-mkimage}
cached=$CACHE_DIR/debian-$suite-minbase.tar

die() { echo "debian.sh: $*" >&2; exit 1; }

case $suite in
*[!a-z0-9-]* | '') die "bad suite name '$suite'" ;;
esac
[ -t 1 ] && die "refusing to write a tarball to a terminal; pipe it into 'wharf import'"

if [ ! -s "$cached" ]; then
	[ "$(id -u)" = 0 ] || die "debootstrap needs root"
	command -v debootstrap >/dev/null || die "debootstrap not found (apt-get install -y debootstrap)"
	mkdir -p "$CACHE_DIR"
	tmp=$(mktemp -d /var/tmp/wharf-mkimage-debian.XXXXXX)
	cleanup() {
		# debootstrap mounts /proc and /sys inside the target and may leave them
		# behind when it fails: unmount (deepest first) before deleting, so rm
		# never walks into the host's /proc or /sys.
		awk -v t="$tmp/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
			while read -r m; do umount -l "$m" 2>/dev/null || true; done
		rm -rf --one-file-system "$tmp"
	}
	trap cleanup EXIT
	echo "debian.sh: debootstrap --variant=minbase $suite (cached afterwards in $cached)" >&2
	debootstrap --variant=minbase "$suite" "$tmp/rootfs" "$MIRROR" >&2
	rm -rf "$tmp"/rootfs/var/lib/apt/lists/* "$tmp"/rootfs/var/cache/apt/archives/*.deb \
		"$tmp"/rootfs/var/cache/apt/*.bin "$tmp"/rootfs/var/log/*.log "$tmp"/rootfs/debootstrap
	tar --numeric-owner -C "$tmp/rootfs" -cf "$tmp/out.tar" .
	# Rename into place only when complete, so an interrupted run never leaves a
	# truncated tarball in the cache.
	mv "$tmp/out.tar" "$cached.tmp$$"
	mv "$cached.tmp$$" "$cached"
fi
cat "$cached"
