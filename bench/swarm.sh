#!/bin/bash
# swarm.sh — swarm mode on one node: `stack deploy` of the tutorial's part 3
# (5 replicas behind one published port) until 5/5 run, scaling a service
# 0→50, and HTTP through the routing mesh beside one replica reached
# directly. When dockerd is installed, the same steps run on a private
# Docker daemon in the same run (own socket, data root, exec root, pidfile,
# --iptables=false --bridge=none; never the host's /run/docker.sock):
# swarm init --advertise-addr 127.0.0.1, service create -d --replicas 5 -p
# polled until 5/5, scale 0→50 polled until 50/50, and 5 requests to its
# routing mesh (which needs IPVS: on kernels without it every one fails).
#
#   bench/swarm.sh           # needs root; uses bin/
#   RUNS=5 DURATION=5s bench/swarm.sh
#   DOCKER=0 bench/swarm.sh  # wharf only
set -euo pipefail
. "$(dirname "$0")/lib.sh"
command -v wrk >/dev/null || die "wrk missing (make deps)"
RUNS=${RUNS:-3}
DURATION=${DURATION:-5s}

start_daemon
import_busybox
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
"$WHARF" swarm init --advertise-addr 127.0.0.1 --listen-addr "127.0.0.1:$(free_port)" >/dev/null
trap '"$WHARF" swarm leave --force >/dev/null 2>&1 || true; docker_cleanup; cleanup' EXIT

# The private Docker daemon and everything it leaves: its swarm, tasks,
# processes, mounts, directories, the docker_gwbridge it made, and iptables
# chains it added (there should be none with --iptables=false).
DOCKERD_PID=
DOCKER_DIR=$WORK/docker
GWBRIDGE_BEFORE=$(ip link show docker_gwbridge >/dev/null 2>&1 && echo yes || echo no)
IPT_BEFORE=$(iptables-save 2>/dev/null | grep -c '^:DOCKER' || true)
dk() { DOCKER_HOST="unix://$DOCKER_DIR/docker.sock" docker "$@"; }
docker_cleanup() {
	set +e
	[ -n "$DOCKERD_PID" ] || return 0
	if kill -0 "$DOCKERD_PID" 2>/dev/null; then
		dk swarm leave --force >/dev/null 2>&1
		kill "$DOCKERD_PID"
		for _ in $(seq 1 150); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$DOCKERD_PID" 2>/dev/null
		wait "$DOCKERD_PID" 2>/dev/null
	fi
	DOCKERD_PID=
	# containerd and its shims, started by this dockerd, name its dirs.
	for p in /proc/[0-9]*; do
		tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q "$DOCKER_DIR" && kill -9 "${p#/proc/}" 2>/dev/null
	done
	awk -v t="$DOCKER_DIR/" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
		while read -r m; do umount -l "$m"; done
	rm -rf "$DOCKER_DIR"
	if [ "$GWBRIDGE_BEFORE" = no ] && ip link show docker_gwbridge >/dev/null 2>&1; then
		ip link del docker_gwbridge
	fi
	local after
	after=$(iptables-save 2>/dev/null | grep -c '^:DOCKER' || true)
	[ "$after" = "$IPT_BEFORE" ] || note "dockerd left iptables chains behind ($IPT_BEFORE before, $after after)"
	set -e
}

# poll_replicas CLI SERVICE WANT TIMEOUT_S: waits until `service ls` shows WANT.
poll_replicas() {
	local cli=$1 svc=$2 want=$3 deadline=$(($(date +%s) + $4))
	while [ "$("$cli" service ls --filter "name=$svc" --format '{{.Replicas}}' 2>/dev/null)" != "$want" ]; do
		[ "$(date +%s)" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

server=$WORK/httpserver
(cd "$REPO" && CGO_ENABLED=0 go build -o "$server" ./bench/httpserver)
port=$(free_port)
cat >"$WORK/docker-compose.yml" <<YML
version: "3"
services:
  web:
    image: busybox:latest
    command: ["/httpserver", "80"]
    volumes:
      - type: bind
        source: $server
        target: /httpserver
        read_only: true
    deploy:
      replicas: 5
      resources:
        limits:
          cpus: "0.1"
          memory: 50M
      restart_policy:
        condition: on-failure
    ports:
      - "$port:80"
    networks:
      - webnet
networks:
  webnet:
YML

ms() { echo "$(( ($2 - $1) / 1000000 ))"; }
deploys=()
for i in $(seq 1 "$RUNS"); do
	t0=$(date +%s%N)
	"$WHARF" stack deploy -c "$WORK/docker-compose.yml" bench >/dev/null
	t1=$(date +%s%N)
	[ "$("$WHARF" service ls --filter name=bench_web --format '{{.Replicas}}')" = 5/5 ] || die "stack did not converge"
	deploys+=("$(ms "$t0" "$t1")")
	if [ "$i" -lt "$RUNS" ]; then
		"$WHARF" stack rm bench >/dev/null
		while "$WHARF" ps -aq --filter label=com.docker.stack.namespace=bench | grep -q .; do sleep 0.1; done
	fi
done
deploy_med=$(printf '%s\n' "${deploys[@]}" | median)

hosts=$(for _ in 1 2 3 4 5; do curl -s "http://127.0.0.1:$port/"; done | sort -u | grep -c . || true)

note "wrk through the routing mesh and directly (one replica, no CPU limit)"
"$WHARF" stack rm bench >/dev/null
while "$WHARF" ps -aq --filter label=com.docker.stack.namespace=bench | grep -q .; do sleep 0.1; done
port1=$(free_port)
"$WHARF" service create -q --name one -p "$port1:80" --mount "type=bind,source=$server,target=/httpserver,readonly" \
	busybox /httpserver 80 >/dev/null
direct_ip=$("$WHARF" inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' \
	"$("$WHARF" ps -q --filter label=com.docker.swarm.service.name=one | head -1)")
for url in "http://127.0.0.1:$port1/" "http://$direct_ip:80/"; do
	for _ in $(seq 1 100); do curl -sf -o /dev/null "$url" && break; sleep 0.05; done
done
wrk_rps() { wrk -t2 -c32 -d"$DURATION" "$1" | awk '/^Requests\/sec/ { print $2 }'; }
mesh_rps=$(wrk_rps "http://127.0.0.1:$port1/")
direct_rps=$(wrk_rps "http://$direct_ip:80/")
"$WHARF" service rm one >/dev/null
while "$WHARF" ps -aq --filter label=com.docker.swarm.service.name=one | grep -q .; do sleep 0.1; done

"$WHARF" service create -d -q --name scale --replicas 0 busybox sleep 3600 >/dev/null
t0=$(date +%s%N)
"$WHARF" service scale scale=50 >/dev/null
t1=$(date +%s%N)
[ "$("$WHARF" service ls --filter name=scale --format '{{.Replicas}}')" = 50/50 ] || die "scale did not converge"
scale_ms=$(ms "$t0" "$t1")
"$WHARF" service rm scale >/dev/null

d_deploy=- d_hosts=- d_scale=- d_mesh=- d_version=-
bench_docker() {
	mkdir -p "$DOCKER_DIR"
	dockerd -H "unix://$DOCKER_DIR/docker.sock" --data-root "$DOCKER_DIR/data" --exec-root "$DOCKER_DIR/exec" \
		--pidfile "$DOCKER_DIR/docker.pid" --iptables=false --ip-masq=false --bridge=none >"$DOCKER_DIR/dockerd.log" 2>&1 &
	DOCKERD_PID=$!
	local i
	for i in $(seq 1 300); do
		dk version >/dev/null 2>&1 && break
		kill -0 "$DOCKERD_PID" 2>/dev/null || { tail "$DOCKER_DIR/dockerd.log" >&2; return 1; }
		sleep 0.1
	done
	d_version=$(dk version -f '{{.Server.Version}}')
	"$REPO/contrib/mkimage/busybox.sh" | dk import - busybox:latest >/dev/null
	dk swarm init --advertise-addr 127.0.0.1 --listen-addr "127.0.0.1:$(free_port)" >/dev/null
	local dport t0 t1 runs=()
	dport=$(free_port)
	# --no-resolve-image: the image is local only; asking a registry about
	# it would time the registry, not the swarm.
	for i in $(seq 1 "$RUNS"); do
		t0=$(date +%s%N)
		dk service create -d -q --no-resolve-image --name web --replicas 5 -p "$dport:80" \
			--limit-cpu 0.1 --limit-memory 50M --restart-condition on-failure \
			--mount "type=bind,source=$server,target=/httpserver,readonly" busybox /httpserver 80 >/dev/null
		poll_replicas dk web 5/5 120 || { note "docker: 5 replicas did not run within 120 s"; return 1; }
		t1=$(date +%s%N)
		runs+=("$(ms "$t0" "$t1")")
		if [ "$i" -lt "$RUNS" ]; then
			dk service rm web >/dev/null
			while dk ps -aq --filter label=com.docker.swarm.service.name=web | grep -q .; do sleep 0.1; done
		fi
	done
	d_deploy=$(printf '%s\n' "${runs[@]}" | median)
	local ok=0
	for _ in 1 2 3 4 5; do
		curl -s --max-time 2 "http://127.0.0.1:$dport/" >>"$DOCKER_DIR/mesh.out" && ok=$((ok + 1))
	done
	d_hosts=$(sort -u "$DOCKER_DIR/mesh.out" 2>/dev/null | grep -c . || true)
	if [ "$ok" = 0 ]; then d_mesh="all 5 requests failed"; else d_mesh="$ok of 5 requests answered"; fi
	dk service rm web >/dev/null
	dk service create -d -q --no-resolve-image --name scale --replicas 0 busybox sleep 3600 >/dev/null
	t0=$(date +%s%N)
	dk service scale -d scale=50 >/dev/null
	poll_replicas dk scale 50/50 300 || { note "docker: scale to 50 did not converge within 300 s"; return 1; }
	t1=$(date +%s%N)
	d_scale=$(ms "$t0" "$t1")
	dk service rm scale >/dev/null
	docker_cleanup
}
if [ "${DOCKER:-1}" != 0 ] && command -v dockerd >/dev/null && command -v docker >/dev/null; then
	note "the same steps on a private Docker daemon"
	bench_docker || note "Docker comparison failed; see the log above"
	docker_cleanup
else
	note "Docker: not measured (dockerd not installed, or DOCKER=0)"
fi

echo
echo "### swarm mode on one node ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs)"
echo
echo "| measure | wharf | Docker $d_version (same run, private dockerd) |"
echo "|---|---:|---:|"
printf '| 5 replicas until 5/5 running (median of %d): wharf `stack deploy` / docker `service create -d`, polled | %d ms | %s ms |\n' "$RUNS" "$deploy_med" "$d_deploy"
printf '| distinct hostnames in 5 requests to the published port | %d of 5 | %s of 5 (%s) |\n' "$hosts" "$d_hosts" "$d_mesh"
printf '| service scale 0 → 50 until 50/50 running | %d ms | %s ms |\n' "$scale_ms" "$d_scale"
printf '| HTTP keep-alive to one replica: through the routing mesh / directly (wrk -c32 %s) | %.0f / %.0f req/s (%s %%) | %s |\n' \
	"$DURATION" "$mesh_rps" "$direct_rps" "$(awk -v a="$mesh_rps" -v b="$direct_rps" 'BEGIN { printf "%.0f", 100 * a / b }')" "$d_mesh"
