#!/bin/bash
# engine-bench.sh — runs the shared engine-bench yardstick
# (/work/shared/engine-bench/engine-bench.sh) against wharf, writing results
# under bench/results/ (never into the shared directory).
#
#   bench/engine-bench.sh                     # private daemon from bin/
#   WHARF_HOST=unix:///run/wharf/wharf.sock WHARF=/usr/local/bin/wharf bench/engine-bench.sh
#
# Every section runs (about 15 min; build and push need the Debian mirror,
# swarm takes ports 2377 and 8080); SKIP leaves some out.
# Knobs: ENGINE_BENCH, OUT, SKIP, LABEL, WHARF.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
ENGINE_BENCH=${ENGINE_BENCH:-/work/shared/engine-bench/engine-bench.sh}
LABEL=${LABEL:-wharf}
OUT=${OUT:-$here/results/engine-bench-$LABEL-$(date -u +%Y%m%d-%H%M%S).md}
SKIP=${SKIP:-}
[ -x "$ENGINE_BENCH" ] || { echo "engine-bench.sh: $ENGINE_BENCH not found" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"

if [ -n "${WHARF_HOST:-}" ]; then
	# An already running daemon (e.g. the one `make demo` started).
	WHARF=${WHARF:-wharf}
	host=$WHARF_HOST
else
	. "$here/lib.sh"
	start_daemon
	host=unix://$SOCK
fi

# The yardstick expects a static busybox image named busybox:local.
if ! WHARF_HOST=$host "$WHARF" image inspect busybox:local >/dev/null 2>&1; then
	"$here/../contrib/mkimage/busybox.sh" | WHARF_HOST=$host "$WHARF" import - busybox:local >/dev/null
fi

CLI=$WHARF DOCKER_HOST=$host WHARF_HOST=$host LABEL=$LABEL OUT=$OUT SKIP=$SKIP \
	DAEMON_PROCS=wharfd AUX_PROCS=wharf-shim "$ENGINE_BENCH"
echo "results: $OUT and ${OUT%.md}.tsv"
