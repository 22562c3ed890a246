#!/bin/bash
# ab-latency.sh — is build B faster than build A at `run --rm --network none
# busybox echo hi`? Two private daemons (A's and B's binaries) run side by
# side; the command runs back to back in blocks of 10, A's block then B's,
# for RUNS runs each, and then again with B's blocks first. Blocks keep the
# background work one build leaves after a run (unmounting, `runc delete`)
# from landing on the other build's runs; the two orders cancel a drift of
# the VM's speed. On this VM a difference under ~1 ms needs RUNS ≥ 200.
#
#   bench/ab-latency.sh DIR_A DIR_B          # DIRs hold wharf, wharfd, wharf-shim
#   RUNS=400 bench/ab-latency.sh /tmp/old/bin bin
#   NETWORK=bridge bench/ab-latency.sh …     # on the default bridge instead of none
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: ${0##*/} DIR_A DIR_B" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "${0##*/}: needs root" >&2; exit 1; }
REPO=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-200}
NETWORK=${NETWORK:-none}
declare -A BIN=([A]=$(cd "$1" && pwd) [B]=$(cd "$2" && pwd))
for v in A B; do
	for b in wharf wharfd wharf-shim; do
		[ -x "${BIN[$v]}/$b" ] || { echo "${0##*/}: no $b in ${BIN[$v]}" >&2; exit 1; }
	done
done

WORK=$(mktemp -d /tmp/wharf-ab.XXXXXX)
declare -A PID
cleanup() {
	set +e
	for v in A B; do
		[ -n "${PID[$v]:-}" ] && kill "${PID[$v]}" 2>/dev/null
	done
	wait 2>/dev/null
	for v in A B; do
		ip link delete "wab$v$(($$ % 10000))" 2>/dev/null
		nft delete table ip "wharf_ab_${v}_$$" 2>/dev/null
		for d in /sys/fs/cgroup/*/"wharf-ab-$v-$$"; do
			[ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
		done
	done
	awk -v t="$WORK/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
		while read -r m; do umount -l "$m"; done
	rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

sock() { echo "$WORK/$1/run/wharf.sock"; }
client() { local v=$1; shift; WHARF_HOST=unix://$(sock "$v") "${BIN[$v]}/wharf" "$@"; }
for v in A B; do
	mkdir -p "$WORK/$v"
	"${BIN[$v]}/wharfd" --root "$WORK/$v/root" --exec-root "$WORK/$v/run" -H "unix://$(sock "$v")" \
		--cgroup-parent "/wharf-ab-$v-$$" --bridge "wab$v$(($$ % 10000))" --nft-table "wharf_ab_${v}_$$" \
		>"$WORK/$v.log" 2>&1 &
	PID[$v]=$!
done
for v in A B; do
	for _ in $(seq 1 100); do
		curl -sf --max-time 1 --unix-socket "$(sock "$v")" http://wharf/_ping >/dev/null && break
		sleep 0.1
	done
	"$REPO/contrib/mkimage/busybox.sh" | client "$v" import - busybox:latest >/dev/null
	for _ in 1 2 3 4 5; do client "$v" run --rm --network "$NETWORK" busybox echo hi >/dev/null; done
done

# block V: 10 runs of build V, after 0.3 s of quiet, times in ms to $WORK/V.ms.
block() {
	local v=$1 i t0
	sleep 0.3
	for i in $(seq 1 10); do
		t0=$EPOCHREALTIME
		client "$v" run --rm --network "$NETWORK" busybox echo hi >/dev/null
		echo "($EPOCHREALTIME - $t0) * 1000" | bc -l >>"$WORK/$v.ms"
	done
}
for order in "A B" "B A"; do
	for _ in $(seq 1 $((RUNS / 20))); do
		for v in $order; do block "$v"; done
	done
done

stats() { sort -n "$WORK/$1.ms" | awk '{a[NR]=$1} END {printf "%.1f %.1f %.1f %d", a[int((NR+1)/2)], a[int(NR/4)+1], a[int(3*NR/4)], NR}'; }
read -r ma pa qa na <<<"$(stats A)"
read -r mb pb qb nb <<<"$(stats B)"
echo "| build | median ms | p25 | p75 | runs |"
echo "|---|---:|---:|---:|---:|"
echo "| A ${BIN[A]} | $ma | $pa | $qa | $na |"
echo "| B ${BIN[B]} | $mb | $pb | $qb | $nb |"
echo "B − A: $(echo "$mb - $ma" | bc -l | xargs printf '%+.1f') ms median"
