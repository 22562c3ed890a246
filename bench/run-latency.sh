#!/bin/bash
# run-latency.sh — how long `wharf run --rm --network none busybox echo hi`
# takes, beside `runc run` of an equivalent busybox bundle (same rootfs, own
# network namespace with only lo), both measured in this run, and the ratio.
# Targets (issue 2): median ≤ 60 ms and ≤ 2.5× bare runc.
#
#   bench/run-latency.sh                       # needs root; uses bin/wharf
#   WHARF=/usr/local/bin/wharf RUNS=50 bench/run-latency.sh
#
# Knobs: RUNS (30, at least 20), WARMUP (3), SETTLE (0.15 s of quiet before
# each command measured from idle), WHARF, WHARFD, RUNC.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

RUNS=${RUNS:-30}
WARMUP=${WARMUP:-3}
SETTLE=${SETTLE:-0.15}
[ "$RUNS" -ge 20 ] || die "RUNS must be at least 20"

# Two ways of measuring, both printed:
#  - back to back: RUNS runs of one command after the other, command after
#    command — what hyperfine -N and the engine-bench yardstick do, and how
#    the Docker figures were taken; the targets are judged on these;
#  - from idle: the commands interleaved, each after SETTLE seconds of
#    quiet, so none pays for the background work of the one before (wharf
#    unmounts, runs `runc delete` and releases the network after it
#    answered) — what a user typing one command at a time sees. An idle
#    VM wakes slowly: every command, runc's too, takes longer this way.
# Times come from bash's $EPOCHREALTIME around a fork+exec of the command.
declare -A CMDS
NAMES=()
# add NAME CMD...: registers a command to measure.
add() { local name=$1; shift; NAMES+=("$name"); CMDS[$name]=$(printf '%q ' "$@"); }
# timed MODE NAME: runs the command once, recording its time unless MODE is "".
timed() {
	local t0 t1
	t0=$EPOCHREALTIME
	eval "${CMDS[$2]}" >/dev/null
	t1=$EPOCHREALTIME
	[ -z "$1" ] || echo "($t1 - $t0) * 1000" | bc -l >>"$WORK/$1-$2.ms"
}
back_to_back() {
	local name i
	for name in "${NAMES[@]}"; do
		for ((i = 0; i < WARMUP; i++)); do timed "" "$name"; done
		for ((i = 0; i < RUNS; i++)); do timed b2b "$name"; done
	done
}
from_idle() {
	local name i
	for ((i = 0; i < WARMUP + RUNS; i++)); do
		for name in "${NAMES[@]}"; do
			sleep "$SETTLE"
			if ((i < WARMUP)); then timed "" "$name"; else timed idle "$name"; fi
		done
	done
}
# stats MODE NAME prints "median min max" in ms.
stats() { local f=$WORK/$1-$2.ms; echo "$(median <"$f") $(sort -n "$f" | head -1) $(sort -n "$f" | tail -1)"; }

start_daemon
import_busybox
out=$("$WHARF" run --rm --network none busybox echo hi)
[ "$out" = hi ] || die "wharf run printed '$out', not 'hi'"

# The runc bundle: the very rootfs the image was made from, `runc spec`
# defaults (which include a fresh network namespace), no terminal.
bundle=$WORK/bundle
mkdir -p "$bundle/rootfs" "$WORK/runc-root"
"$REPO/contrib/mkimage/busybox.sh" | tar -C "$bundle/rootfs" -xf -
(cd "$bundle" && "$RUNC" spec)
jq '.process.terminal = false | .process.args = ["echo", "hi"]' "$bundle/config.json" >"$bundle/config.json.new"
mv "$bundle/config.json.new" "$bundle/config.json"
runc_cmd=("$RUNC" --root "$WORK/runc-root" run --bundle "$bundle" "wharf-bench-runc-$$")
out=$("${runc_cmd[@]}")
[ "$out" = hi ] || die "runc run printed '$out', not 'hi'"

# The same bundle wharf hands to runc: its config.json (Docker's seccomp
# profile, capabilities, masked paths, cgroup limits, /etc mounts dropped)
# taken from a running container, pointed at the plain rootfs above.
cid=$("$WHARF" run -d --network none busybox sleep 600)
wbundle=$WORK/wharf-bundle
mkdir -p "$wbundle"
(cd "$REPO" && go run ./bench/bundleedit -root "$bundle/rootfs" -cgroup "/wharf-bench-same-$$" \
	"$EXEC_ROOT/containers/$cid/config.json" "$wbundle/config.json" echo hi)
"$WHARF" rm -f "$cid" >/dev/null
same_cmd=("$RUNC" --root "$WORK/runc-root" run --bundle "$wbundle" "wharf-bench-same-$$")
out=$("${same_cmd[@]}")
[ "$out" = hi ] || die "runc run of wharf's bundle printed '$out', not 'hi'"

add wharf "$WHARF" run --rm --network none busybox echo hi
add runc "${runc_cmd[@]}"
add wharf-bridge "$WHARF" run --rm busybox echo hi
add runc-same "${same_cmd[@]}"
note "measuring ${NAMES[*]} back to back: $RUNS runs each after $WARMUP warm-up runs"
back_to_back
note "measuring them from idle: $RUNS interleaved rounds, ${SETTLE}s of quiet before each command"
from_idle

table() {
	local mode=$1 w r b s
	read -r -a w < <(stats "$mode" wharf)
	read -r -a r < <(stats "$mode" runc)
	read -r -a b < <(stats "$mode" wharf-bridge)
	read -r -a s < <(stats "$mode" runc-same)
	echo "| command | median ms | min ms | max ms |"
	echo "|---|---:|---:|---:|"
	printf '| `wharf run --rm --network none busybox echo hi` | %.1f | %.1f | %.1f |\n' "${w[@]}"
	printf '| `wharf run --rm busybox echo hi` (default bridge: veth, IPAM, nft) | %.1f | %.1f | %.1f |\n' "${b[@]}"
	printf '| `runc run` (same rootfs, own netns) | %.1f | %.1f | %.1f |\n' "${r[@]}"
	printf '| `runc run` of wharf'"'"'s own bundle (seccomp, caps, cgroups) | %.1f | %.1f | %.1f |\n' "${s[@]}"
	printf '| ratio wharf / runc (`runc spec` bundle) | %.2f× | | |\n' "$(echo "${w[0]} / ${r[0]}" | bc -l)"
	printf '| ratio wharf / runc (same bundle) | %.2f× | | |\n' "$(echo "${w[0]} / ${s[0]}" | bc -l)"
}
read -r w_med _ < <(stats b2b wharf)
read -r r_med _ < <(stats b2b runc)
read -r b_med _ < <(stats b2b wharf-bridge)
read -r s_med _ < <(stats b2b runc-same)
ratio=$(echo "$w_med / $r_med" | bc -l)
ratio_same=$(echo "$w_med / $s_med" | bc -l)

echo
echo "### run latency ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $RUNS runs each, $("$RUNC" --version | head -1))"
echo
echo "Back to back (as hyperfine -N / engine-bench):"
echo
table b2b
echo
echo "From idle (interleaved, ${SETTLE}s of quiet before each command):"
echo
table idle
echo
printf 'targets, judged back to back — bridge: median ≤ 80 ms: %s\n' "$(echo "$b_med <= 80" | bc -l | sed 's/1/met/;s/0/missed/')"
# Issue 2 asks for wharf "within 2.5× of bare runc", runc "of the same
# bundle": runc handed the very config.json wharf hands it. The `runc spec`
# bundle (no seccomp filter, ~15 ms cheaper for runc alone) is printed too.
printf 'targets: median ≤ 60 ms: %s; ≤ 2.5× bare runc of the same bundle: %s (%.2f×; against the `runc spec` bundle: %.2f×)\n' \
	"$(echo "$w_med <= 60" | bc -l | sed 's/1/met/;s/0/missed/')" \
	"$(echo "$ratio_same <= 2.5" | bc -l | sed 's/1/met/;s/0/missed/')" "$ratio_same" "$ratio"
