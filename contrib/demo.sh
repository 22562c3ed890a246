#!/bin/bash
# demo.sh walks through parts 1–2 of the Docker "Get Started" tutorial with
# wharf: images, containers, logs, exec, save/load, volumes and a Dockerfile
# build (examples/friendlyhello, on a Debian base from contrib/mkimage/debian.sh). Each step prints
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
step 'wharf rmi friendlyhello'
step 'wharf builder prune -f'

echo
echo "demo finished: every step succeeded"
