# lib.sh — shared by the bench scripts (sourced, not run): starts a private
# wharf daemon on its own root, exec-root, socket and cgroup parent, so a
# benchmark never touches /var/lib/wharf or /run/wharf, and removes all of it
# on exit; start_dockerd does the same for a Docker daemon to compare with.
#
# Knobs: WHARF (client, default <repo>/bin/wharf), WHARFD (daemon, default
# beside WHARF), WHARF_SHIM (beside WHARF), RUNC (default runc).

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$BENCH_DIR")
WHARF=${WHARF:-$REPO/bin/wharf}
WHARFD=${WHARFD:-$(dirname "$WHARF")/wharfd}
RUNC=${RUNC:-runc}

die() { echo "${0##*/}: $*" >&2; exit 1; }
note() { echo "${0##*/}: $*" >&2; }

[ "$(id -u)" = 0 ] || die "needs root"
[ -x "$WHARF" ] || die "no wharf client at $WHARF (make build, or WHARF=path)"
[ -x "$WHARFD" ] || die "no wharfd at $WHARFD (make build, or WHARFD=path)"
command -v curl >/dev/null || die "curl missing (make deps)"

WORK=$(mktemp -d /tmp/wharf-bench.XXXXXX)
ROOT=$WORK/root
EXEC_ROOT=$WORK/run
SOCK=$EXEC_ROOT/wharf.sock
CGROUP_PARENT=/wharf-bench-$$
# Own bridge and nft table: a benchmark never touches wharf0 or Docker's.
BRIDGE=wb$(($$ % 100000))
NFT_TABLE=wharf_bench_$$
DAEMON_LOG=$WORK/wharfd.log
DAEMON_PID=
export WHARF_HOST=unix://$SOCK DOCKER_HOST=unix://$SOCK
# wharfd finds wharf-shim beside itself or on PATH; go (for bench helpers) is
# in /usr/local/go/bin on the build machines.
export PATH=$(dirname "$WHARFD"):$PATH:/usr/local/go/bin

ping_daemon() { curl -sf --max-time 1 --unix-socket "$SOCK" http://wharf/_ping >/dev/null 2>&1; }

start_daemon() {
	"$WHARFD" --root "$ROOT" --exec-root "$EXEC_ROOT" -H "unix://$SOCK" \
		--cgroup-parent "$CGROUP_PARENT" --bridge "$BRIDGE" --nft-table "$NFT_TABLE" ${WHARFD_FLAGS:-} >>"$DAEMON_LOG" 2>&1 &
	DAEMON_PID=$!
	local i
	for i in $(seq 1 300); do
		ping_daemon && return 0
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	tail -n 30 "$DAEMON_LOG" >&2
	die "wharfd did not answer on $SOCK"
}

import_busybox() {
	"$REPO/contrib/mkimage/busybox.sh" | "$WHARF" import - busybox:latest >/dev/null
}

# start_dockerd: a private Docker daemon to compare with, when dockerd and
# docker are installed: its own socket, data root, exec root and pidfile
# below $WORK/docker, --iptables=false --ip-masq=false --bridge=none (it
# never touches the host's /run/docker.sock, /var/lib/docker or networking;
# with no system containerd it runs its own below its exec root). Sets
# DOCKERD_SOCK; returns 1 (after saying why) when there is none. cleanup
# stops it and removes its dirs, also when the script fails.
DOCKERD_PID=
DOCKERD_DIR=$WORK/docker
DOCKERD_SOCK=$DOCKERD_DIR/docker.sock
start_dockerd() {
	if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
		note "Docker: not measured (dockerd or docker is not installed)"
		return 1
	fi
	mkdir -p "$DOCKERD_DIR"
	dockerd -H "unix://$DOCKERD_SOCK" --data-root "$DOCKERD_DIR/data" --exec-root "$DOCKERD_DIR/exec" \
		--pidfile "$DOCKERD_DIR/docker.pid" --iptables=false --ip-masq=false --bridge=none \
		${DOCKERD_FLAGS:-} >"$DOCKERD_DIR/dockerd.log" 2>&1 &
	DOCKERD_PID=$!
	local i
	for i in $(seq 1 300); do
		docker -H "unix://$DOCKERD_SOCK" version >/dev/null 2>&1 && return 0
		kill -0 "$DOCKERD_PID" 2>/dev/null || break
		sleep 0.1
	done
	tail -n 20 "$DOCKERD_DIR/dockerd.log" >&2
	note "Docker: not measured (the private dockerd did not start; log above)"
	stop_dockerd
	return 1
}

# stop_dockerd: the private dockerd and the containerd it started.
stop_dockerd() {
	[ -n "$DOCKERD_PID" ] || return 0
	local p
	kill "$DOCKERD_PID" 2>/dev/null || true
	for _ in $(seq 1 150); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$DOCKERD_PID" 2>/dev/null || true
	wait "$DOCKERD_PID" 2>/dev/null || true
	DOCKERD_PID=
	# A dockerd killed hard leaves its containerd (and shims) running.
	for p in /proc/[0-9]*; do
		if { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF "$DOCKERD_DIR/"; then
			kill -9 "${p#/proc/}" 2>/dev/null || true
		fi
	done
	return 0
}

# cleanup: containers, daemons, leftover runtime state, mounts, cgroups, dirs.
cleanup() {
	set +e
	stop_dockerd
	if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
		ids=$("$WHARF" ps -aq 2>/dev/null)
		[ -n "$ids" ] && "$WHARF" rm -f $ids >/dev/null 2>&1
		kill "$DAEMON_PID"
		for _ in $(seq 1 100); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$DAEMON_PID" 2>/dev/null
		wait "$DAEMON_PID" 2>/dev/null
	fi
	for st in "$EXEC_ROOT"/runtime/*/* "$WORK"/runc-root/*; do
		[ -d "$st" ] && "$RUNC" --root "$(dirname "$st")" delete --force "$(basename "$st")" >/dev/null 2>&1
	done
	for p in /proc/[0-9]*; do
		case $(readlink "$p/exe" 2>/dev/null) in
		*/wharf-shim) tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q "$WORK" && kill -9 "${p#/proc/}" ;;
		esac
	done
	awk -v t="$WORK/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
		while read -r m; do umount -l "$m"; done
	for d in /sys/fs/cgroup/*"$CGROUP_PARENT"; do
		[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
	done
	ip link delete "$BRIDGE" 2>/dev/null
	nft delete table ip "$NFT_TABLE" 2>/dev/null
	rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# median of numbers on stdin
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
