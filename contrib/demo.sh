#!/bin/bash
# demo.sh walks through parts 1–3 of the Docker "Get Started" tutorial with
# wharf: images, containers, logs, exec, save/load, volumes, a Dockerfile
# build (examples/friendlyhello, on a Debian base from contrib/mkimage/debian.sh),
# sharing it through a registry, and a stack of replicas behind one port. Each step prints
# the command it runs (`+ wharf …`) and the walk-through stops at the first
# failing step. It expects a running daemon (`make demo` starts one).
#
# Environment: WHARF (client binary, default: wharf on PATH), WHARF_HOST (daemon
# socket, default: the client's own default).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
WHARF=${WHARF:-wharf}
work=$(mktemp -d "${TMPDIR:-/tmp}/wharf-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT

# wharf lets the steps below read like the tutorial while running $WHARF.
wharf() { "$WHARF" "$@"; }

# step prints a command line exactly as typed, then runs it in this shell
# (so pipes and $(…) behave as in the tutorial).
step() {
	printf '\n+ %s\n' "$1"
	eval "$1"
}

# quiet removes leftovers of an earlier, interrupted demo without noise.
quiet() { "$@" >/dev/null 2>&1 || true; }
quiet wharf rm -f web redis friendlyhello-demo
quiet wharf volume rm demo-data
quiet wharf network rm demo-net

echo "== Part 1: orientation"
step 'wharf version'
step 'wharf info'

echo
echo "== Part 2: images and containers"
step "$here/mkimage/busybox.sh | wharf import - busybox:latest"
step 'wharf images'
step 'wharf run --rm busybox echo hello from a wharf container'
step 'wharf run --rm busybox hostname'
step 'wharf run --rm busybox sh -c "exit 3" || echo "exit code passed through: $?"'
step 'wharf run -d --name web -p 4000:80 busybox httpd -f -v -p 80 -h /var/www'
step 'wharf ps'
step 'wharf port web'
step 'curl -s --retry 5 --retry-connrefused http://localhost:4000/'
step 'wharf container ls --format "{{.ID}} {{.Names}} {{.Status}}"'
step 'wharf exec web wget -q -O - http://127.0.0.1:80/'
step 'wharf logs web'
step 'wharf exec web sh -c "echo inside \$(hostname) as \$(id -un)"'
step 'wharf top web'
step 'wharf stats --no-stream'
step 'wharf stop web'
step 'wharf rm web'

echo
echo "== A user network: containers find each other by name"
step 'wharf network create demo-net'
step 'wharf run -d --name redis --network demo-net busybox sleep 600'
step 'wharf run --rm --network demo-net busybox nslookup redis'
step 'wharf rm -f redis'
step 'wharf network rm demo-net'

echo
echo "== Images: save and load"
step "wharf save -o $work/busybox.tar busybox:latest"
step "ls -lh $work/busybox.tar"
step "wharf load -i $work/busybox.tar"
step 'wharf image ls'

echo
echo "== Volumes"
step 'wharf volume create demo-data'
step 'wharf run --rm -v demo-data:/data busybox sh -c "date > /data/first-run"'
step 'wharf run --rm -v demo-data:/data busybox cat /data/first-run'
step 'wharf volume ls'
step 'wharf volume rm demo-data'

echo
echo "== Part 2: build the tutorial's app from a Dockerfile (examples/friendlyhello)"
quiet wharf rm -f friendlyhello-demo
step "$here/mkimage/debian.sh | wharf import -c 'CMD [\"bash\"]' - debian:bookworm"
step "cat $here/../examples/friendlyhello/Dockerfile"
step "wharf build -t friendlyhello $here/../examples/friendlyhello"
step "time wharf build -t friendlyhello $here/../examples/friendlyhello   # again: every step from the cache"
step 'wharf image history friendlyhello'
step 'wharf run -d --name friendlyhello-demo -p 4000:80 friendlyhello'
step 'curl -s --retry 10 --retry-connrefused http://localhost:4000/; echo'
step 'wharf rm -f friendlyhello-demo'

echo
echo "== Part 2: share the image through a registry (wharf's own, on loopback)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
reg_port=$(free_port)
printf 'demo-password\n' | wharf registry htpasswd add "$work/htpasswd" alice
"$WHARF" registry serve --addr "127.0.0.1:$reg_port" --root "$work/registry" --htpasswd "$work/htpasswd" >"$work/registry.log" 2>&1 &
reg_pid=$!
trap 'kill $reg_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$reg_port/v2/" && break; sleep 0.1; done
step "echo demo-password | wharf login -u alice --password-stdin 127.0.0.1:$reg_port"
repo="127.0.0.1:$reg_port/alice/get-started:part2"
step "wharf tag friendlyhello $repo"
step "wharf push $repo"
step "wharf rmi $repo friendlyhello   # as on a machine that never had it: only the Debian base is left"
step "wharf run -d --name friendlyhello-demo -p 4000:80 $repo   # not here any more: its layers are pulled"
step 'curl -s --retry 10 --retry-connrefused http://localhost:4000/; echo'
step 'wharf rm -f friendlyhello-demo'
step "wharf tag $repo friendlyhello   # the name part 3 deploys"
step "wharf logout 127.0.0.1:$reg_port"

echo
echo "== Part 3: services — a stack of 5 replicas behind one port"
quiet wharf swarm leave --force
cat >"$work/docker-compose.yml" <<YML
version: "3"
services:
  web:
    image: friendlyhello
    deploy:
      replicas: 5
      resources:
        limits:
          cpus: "0.1"
          memory: 50M
      restart_policy:
        condition: on-failure
    ports:
      - "4000:80"
    networks:
      - webnet
networks:
  webnet:
YML
step "wharf swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:$(free_port)"
step "cat $work/docker-compose.yml"
step "wharf stack deploy -c $work/docker-compose.yml getstartedlab"
step 'wharf stack services getstartedlab'
step 'for i in 1 2 3 4 5; do curl -s --retry 10 --retry-connrefused http://localhost:4000/ | grep -o "<b>Hostname:</b> [0-9a-f]*"; done'
step "sed -i 's/replicas: 5/replicas: 7/' $work/docker-compose.yml && wharf stack deploy -c $work/docker-compose.yml getstartedlab"
step 'wharf stack ps getstartedlab'
step 'wharf stack rm getstartedlab'
step 'wharf swarm leave --force'
step "wharf rmi friendlyhello $repo"
step 'wharf builder prune -f'

echo
echo "demo finished: every step succeeded"
