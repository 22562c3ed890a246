#!/bin/bash
# swarm.sh — swarm mode on one node: `stack deploy` of the tutorial's part 3
# (5 replicas behind one published port) until 5/5 run, scaling a service
# 0→50, and HTTP through the routing mesh beside one replica reached
# directly, measured in the same run. Docker 20.10's figures on this kind of
# machine (../shared/engine-bench/results-docker-20.10.md): service create
# --replicas 5 until 5/5 in 1.75 s; its routing mesh fails every request here
# (no IPVS in this kernel).
#
#   bench/swarm.sh           # needs root; uses bin/
#   RUNS=5 DURATION=5s bench/swarm.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"
command -v wrk >/dev/null || die "wrk missing (make deps)"
RUNS=${RUNS:-3}
DURATION=${DURATION:-5s}

start_daemon
import_busybox
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
"$WHARF" swarm init --advertise-addr 127.0.0.1 --listen-addr "127.0.0.1:$(free_port)" >/dev/null
trap '"$WHARF" swarm leave --force >/dev/null 2>&1 || true; cleanup' EXIT

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

echo
echo "### swarm mode on one node ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs)"
echo
echo "| measure | wharf | Docker 20.10 (same machine, engine-bench) |"
echo "|---|---:|---:|"
printf '| stack deploy, 5 replicas, until 5/5 running (median of %d) | %d ms | 1750 ms (service create) |\n' "$RUNS" "$deploy_med"
printf '| distinct hostnames in 5 requests to the published port | %d of 5 | 0 (all failed: no IPVS) |\n' "$hosts"
printf '| service scale 0 → 50 until 50/50 running | %d ms | |\n' "$scale_ms"
printf '| HTTP keep-alive to one replica: through the routing mesh / directly (wrk -c32 %s) | %.0f / %.0f req/s (%s %%) | mesh fails |\n' \
	"$DURATION" "$mesh_rps" "$direct_rps" "$(awk -v a="$mesh_rps" -v b="$direct_rps" 'BEGIN { printf "%.0f", 100 * a / b }')"
