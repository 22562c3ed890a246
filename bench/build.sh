#!/bin/bash
# build.sh — how long `wharf build` takes for examples/friendlyhello: cold
# (empty cache, apt downloads from the Debian mirror included), warm (nothing
# changed: every step from the cache) and after editing app.py only (the late
# COPY and the config steps after it are rebuilt; the apt-get RUN is not).
# Targets (issue 4): warm ≤ 50 ms end to end (Docker 20.10's classic builder
# here: 50 ms; cold 11.3 s).
#
#   bench/build.sh              # needs root and the Debian mirror; uses bin/wharf
#   RUNS=20 bench/build.sh
#
# Knobs: RUNS (warm and edit runs, default 11), WHARF, WHARFD. When Debian's
# docker.io is installed, the same three builds run on a private dockerd
# (its own data root and socket) with DOCKER_BUILDKIT=0, and the table shows
# both and the ratio; without it the script says so.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

RUNS=${RUNS:-11}
command -v debootstrap >/dev/null || [ -s /var/cache/wharf-mkimage/debian-bookworm-minbase.tar ] ||
	die "debootstrap missing (make deps)"

ms() { echo "scale=1; ($2 - $1) / 1000000" | bc; }

start_daemon
"$REPO/contrib/mkimage/debian.sh" | "$WHARF" import -c 'CMD ["bash"]' - debian:bookworm >/dev/null

ctx=$WORK/friendlyhello
cp -r "$REPO/examples/friendlyhello" "$ctx"

t0=$(date +%s%N)
"$WHARF" build -t friendlyhello "$ctx" >"$WORK/cold.log"
t1=$(date +%s%N)
cold=$(ms "$t0" "$t1")

: >"$WORK/warm.ms"
for _ in $(seq 1 "$RUNS"); do
	t0=$(date +%s%N)
	"$WHARF" build -t friendlyhello "$ctx" >"$WORK/warm.log"
	t1=$(date +%s%N)
	ms "$t0" "$t1" >>"$WORK/warm.ms"
done
grep -q "Running in" "$WORK/warm.log" && die "a warm build ran a RUN step"

: >"$WORK/edit.ms"
for i in $(seq 1 "$RUNS"); do
	echo "# edit $i" >>"$ctx/app.py"
	t0=$(date +%s%N)
	"$WHARF" build -t friendlyhello "$ctx" >"$WORK/edit.log"
	t1=$(date +%s%N)
	ms "$t0" "$t1" >>"$WORK/edit.ms"
done
grep -q "Running in" "$WORK/edit.log" && die "editing app.py re-ran a RUN step"

# bench_docker: Docker's classic builder on the same example, on the private
# dockerd of lib.sh's start_dockerd (no bridge, no iptables: RUN uses the
# host's network instead of a bridge, so apt reaches the mirror without NAT
# rules).
bench_docker() {
	start_dockerd || return 1
	local d=$DOCKERD_DIR
	local dk=(env DOCKER_HOST="unix://$DOCKERD_SOCK" DOCKER_BUILDKIT=0 docker)
	"$REPO/contrib/mkimage/debian.sh" | "${dk[@]}" import -c 'CMD ["bash"]' - debian:bookworm >/dev/null
	local dctx=$WORK/friendlyhello-docker
	cp -r "$REPO/examples/friendlyhello" "$dctx"
	t0=$(date +%s%N)
	"${dk[@]}" build --network host -t friendlyhello "$dctx" >"$d/cold.log" 2>&1
	t1=$(date +%s%N)
	dcold=$(ms "$t0" "$t1")
	: >"$d/warm.ms"
	: >"$d/edit.ms"
	for i in $(seq 1 "$RUNS"); do
		t0=$(date +%s%N)
		"${dk[@]}" build --network host -t friendlyhello "$dctx" >/dev/null 2>&1
		t1=$(date +%s%N)
		ms "$t0" "$t1" >>"$d/warm.ms"
	done
	for i in $(seq 1 "$RUNS"); do
		echo "# edit $i" >>"$dctx/app.py"
		t0=$(date +%s%N)
		"${dk[@]}" build --network host -t friendlyhello "$dctx" >/dev/null 2>&1
		t1=$(date +%s%N)
		ms "$t0" "$t1" >>"$d/edit.ms"
	done
	dwarm=$(median <"$d/warm.ms")
	dedit=$(median <"$d/edit.ms")
	stop_dockerd
}

dcold=- dwarm=- dedit=-
bench_docker || note "Docker: no comparison (see above, or $DOCKERD_DIR/dockerd.log)"

ratio() { [ "$2" = - ] && echo - || echo "scale=2; $1 / $2" | bc; }
wwarm=$(median <"$WORK/warm.ms")
wedit=$(median <"$WORK/edit.ms")
echo "friendlyhello build, $(date +%F), $(nproc) CPUs; warm and edit: median of $RUNS runs"
printf '%-30s %10s %10s %8s\n' "" "wharf ms" "docker ms" "ratio"
printf '%-30s %10s %10s %8s\n' "cold (incl. apt downloads)" "$cold" "$dcold" "$(ratio "$cold" "$dcold")"
printf '%-30s %10s %10s %8s\n' "warm (no change)" "$wwarm" "$dwarm" "$(ratio "$wwarm" "$dwarm")"
printf '%-30s %10s %10s %8s\n' "after editing app.py" "$wedit" "$dedit" "$(ratio "$wedit" "$dedit")"
echo "(wharf min–max warm $(sort -n "$WORK/warm.ms" | head -1)–$(sort -n "$WORK/warm.ms" | tail -1), edit $(sort -n "$WORK/edit.ms" | head -1)–$(sort -n "$WORK/edit.ms" | tail -1); docker: Debian docker.io $(dockerd --version 2>/dev/null | cut -d' ' -f3 | tr -d ,) classic builder, DOCKER_BUILDKIT=0)"
