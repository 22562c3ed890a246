#!/bin/bash
# memory.sh — what wharf costs in memory: the idle daemon's RSS, and with N
# (default 20) idle `sleep` containers the PSS of each container's monitor
# (wharf-shim, from /proc/<pid>/smaps_rollup, so shared pages are split
# fairly) and the daemon's RSS again. Targets (issue 2): idle daemon ≤ 40 MiB,
# ≤ 3 MiB per container.
#
#   bench/memory.sh                      # needs root; uses bin/wharf
#   N=50 WHARF=/usr/local/bin/wharf bench/memory.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"

N=${N:-20}

kib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }       # KiB → MiB
vmrss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }       # KiB
field_sum() { awk -v f="$1:" '$1 == f { s += $2 } END { print s + 0 }'; }

# shim_pids prints the pids of wharf-shim processes of this daemon.
shim_pids() {
	local p
	for p in /proc/[0-9]*; do
		case $(readlink "$p/exe" 2>/dev/null) in
		*/wharf-shim) tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q "$WORK" && echo "${p#/proc/}" ;;
		esac
	done
	return 0
}

start_daemon
rss_fresh=$(vmrss "$DAEMON_PID")
import_busybox
"$WHARF" run --rm --network none busybox true
rss_idle=$(vmrss "$DAEMON_PID")

note "starting $N containers"
for i in $(seq 1 "$N"); do
	"$WHARF" run -d --network none --label wharf-bench=1 --name "bench-sleep-$i" busybox sleep 3600 >/dev/null
done
running=$("$WHARF" ps -q --filter label=wharf-bench=1 | wc -l)
[ "$running" -eq "$N" ] || die "only $running of $N containers are running"

mapfile -t shims < <(shim_pids)
[ "${#shims[@]}" -gt 0 ] || die "no wharf-shim processes found for this daemon"
pss=0 rss=0
for p in "${shims[@]}"; do
	pss=$((pss + $(field_sum Pss <"/proc/$p/smaps_rollup")))
	rss=$((rss + $(field_sum Rss <"/proc/$p/smaps_rollup")))
done
rss_busy=$(vmrss "$DAEMON_PID")

echo
echo "### memory ($(date -u +%Y-%m-%dT%H:%MZ), $N idle containers, ${#shims[@]} wharf-shim processes)"
echo
echo "| what | MiB |"
echo "|---|---:|"
echo "| wharfd RSS right after start | $(kib "$rss_fresh") |"
echo "| wharfd RSS idle (after import + one run) | $(kib "$rss_idle") |"
echo "| wharfd RSS with $N containers up | $(kib "$rss_busy") |"
echo "| monitor PSS per container (sum of wharf-shim Pss / $N) | $(kib $((pss / N))) |"
echo "| monitor RSS per container (for comparison with Docker's RSS figure) | $(kib $((rss / N))) |"
echo
echo "targets: idle daemon ≤ 40 MiB; ≤ 3 MiB per container. Docker 20.10 here: dockerd+containerd 168 MiB idle, 12.9 MiB RSS per container."
