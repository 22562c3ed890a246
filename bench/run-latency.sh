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
# each measured command), WHARF, WHARFD, RUNC.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

RUNS=${RUNS:-30}
WARMUP=${WARMUP:-3}
SETTLE=${SETTLE:-0.15}
[ "$RUNS" -ge 20 ] || die "RUNS must be at least 20"

# The four commands are measured interleaved — round i runs each once, in
# turn — so that the VM's drift in speed (±15 % over minutes here) and the
# daemon's warm-up weigh on all of them alike; measured one block after the
# other, whichever runs first looked several ms slower. Each starts after
# SETTLE seconds of quiet, so that no command pays for the background work
# of the one before (wharf unmounts, runs `runc delete` and releases the
# network after it answered). Times come from bash's $EPOCHREALTIME around
# a plain fork+exec of the command.
declare -A CMDS
NAMES=()
# add NAME CMD...: registers a command to measure.
add() { local name=$1; shift; NAMES+=("$name"); CMDS[$name]=$(printf '%q ' "$@"); : >"$WORK/$name.ms"; }
# run_rounds: WARMUP rounds not recorded, then RUNS recorded.
run_rounds() {
	local i name t0 t1
	for ((i = 0; i < WARMUP + RUNS; i++)); do
		for name in "${NAMES[@]}"; do
			sleep "$SETTLE"
			t0=$EPOCHREALTIME
			eval "${CMDS[$name]}" >/dev/null
			t1=$EPOCHREALTIME
			((i < WARMUP)) || echo "($t1 - $t0) * 1000" | bc -l >>"$WORK/$name.ms"
		done
	done
}
# stats NAME prints "median min max" in ms.
stats() { echo "$(median <"$WORK/$1.ms") $(sort -n "$WORK/$1.ms" | head -1) $(sort -n "$WORK/$1.ms" | tail -1)"; }

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
note "measuring ${NAMES[*]}: $RUNS interleaved rounds after $WARMUP warm-up rounds"
run_rounds
read -r w_med w_min w_max < <(stats wharf)
read -r r_med r_min r_max < <(stats runc)
read -r b_med b_min b_max < <(stats wharf-bridge)
read -r s_med s_min s_max < <(stats runc-same)
ratio=$(echo "$w_med / $r_med" | bc -l)
ratio_same=$(echo "$w_med / $s_med" | bc -l)

echo
echo "### run latency ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $RUNS runs each, $("$RUNC" --version | head -1))"
echo
echo "| command | median ms | min ms | max ms |"
echo "|---|---:|---:|---:|"
printf '| `wharf run --rm --network none busybox echo hi` | %.1f | %.1f | %.1f |\n' "$w_med" "$w_min" "$w_max"
printf '| `wharf run --rm busybox echo hi` (default bridge: veth, IPAM, nft) | %.1f | %.1f | %.1f |\n' "$b_med" "$b_min" "$b_max"
printf '| `runc run` (same rootfs, own netns) | %.1f | %.1f | %.1f |\n' "$r_med" "$r_min" "$r_max"
printf '| `runc run` of wharf'"'"'s own bundle (seccomp, caps, cgroups) | %.1f | %.1f | %.1f |\n' "$s_med" "$s_min" "$s_max"
printf '| ratio wharf / runc (`runc spec` bundle) | %.2f× | | |\n' "$ratio"
printf '| ratio wharf / runc (same bundle) | %.2f× | | |\n' "$ratio_same"
echo
printf 'target (bridge): median ≤ 80 ms: %s\n' "$(echo "$b_med <= 80" | bc -l | sed 's/1/met/;s/0/missed/')"
# Issue 2 asks for wharf "within 2.5× of bare runc", runc "of the same
# bundle": runc handed the very config.json wharf hands it. The `runc spec`
# bundle (no seccomp filter, ~15 ms cheaper for runc alone) is printed too.
printf 'targets: median ≤ 60 ms: %s; ≤ 2.5× bare runc of the same bundle: %s (%.2f×; against the `runc spec` bundle: %.2f×)\n' \
	"$(echo "$w_med <= 60" | bc -l | sed 's/1/met/;s/0/missed/')" \
	"$(echo "$ratio_same <= 2.5" | bc -l | sed 's/1/met/;s/0/missed/')" "$ratio_same" "$ratio"
