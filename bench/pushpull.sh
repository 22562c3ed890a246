#!/bin/bash
# pushpull.sh — push and pull over loopback of a ~200 MB, 4-layer image,
# then of the tutorial's friendlyhello image (see friendlyhello below),
# against Debian's docker-registry (distribution 2.8) on 127.0.0.1, which
# this script starts itself (fresh storage before every push, so each push
# uploads everything; every local copy of the image is removed before each
# pull, so each pull downloads and unpacks everything), then the same with
# Docker on a private dockerd when it is installed. Issue 5's target: pull
# and push at least 2× Docker 20.10.
#
#   bench/pushpull.sh                  # needs root and docker-registry
#   RUNS=5 SIZE_MB=300 bench/pushpull.sh
#
# The image is assembled as a `docker save` archive with gzip layers (as a
# pulled image is stored) and loaded: two layers of random bytes and two of
# text (compressible), SIZE_MB (200) in total. MB/s = compressed bytes (the
# blobs a registry stores) / wall time, as /work/shared/engine-bench does.
# Knobs: RUNS (3), SIZE_MB (200), WHARF, WHARFD, REGISTRY (docker-registry).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

RUNS=${RUNS:-3}
SIZE_MB=${SIZE_MB:-200}
REGISTRY=${REGISTRY:-/usr/bin/docker-registry}
[ -x "$REGISTRY" ] || die "no docker-registry at $REGISTRY (apt-get install docker-registry)"
command -v python3 >/dev/null || die "python3 missing"

REG_PID=
stop_registry() {
	if [ -n "$REG_PID" ]; then
		kill "$REG_PID" 2>/dev/null || true
		wait "$REG_PID" 2>/dev/null || true
		REG_PID=
	fi
}
trap 'stop_registry; cleanup' EXIT

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
REG=127.0.0.1:$PORT
start_registry() {
	rm -rf "$WORK/registry"
	mkdir -p "$WORK/registry/data"
	cat >"$WORK/registry/config.yml" <<EOC
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $WORK/registry/data}}
http: {addr: $REG}
EOC
	"$REGISTRY" serve "$WORK/registry/config.yml" >>"$WORK/registry.log" 2>&1 &
	REG_PID=$!
	local i
	for i in $(seq 1 100); do
		curl -sf "http://$REG/v2/" >/dev/null && return 0
		sleep 0.05
	done
	die "docker-registry did not start on $REG"
}

# make_image DIR: writes DIR/image.tar (docker save format, gzip layers).
make_image() {
	python3 - "$1" "$SIZE_MB" <<'PY'
import gzip, hashlib, io, json, os, random, sys, tarfile
out, total = sys.argv[1], int(sys.argv[2]) << 20
words = [''.join(random.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(random.randint(2, 10))) for _ in range(5000)]
def layer_tar(kind, size, i):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=tarfile.PAX_FORMAT) as tf:
        d = tarfile.TarInfo(f'layer{i}'); d.type = tarfile.DIRTYPE; d.mode = 0o755; tf.addfile(d)
        per, n = 4 << 20, 0
        while n < size:
            if kind == 'random':
                data = os.urandom(min(per, size - n))
            else:
                data = ' '.join(random.choices(words, k=min(per, size - n) // 6)).encode()[:min(per, size - n)]
            ti = tarfile.TarInfo(f'layer{i}/f{n:012d}'); ti.size = len(data); ti.mode = 0o644
            tf.addfile(ti, io.BytesIO(data)); n += len(data)
    return buf.getvalue()
diff_ids, files = [], []
with tarfile.open(os.path.join(out, 'image.tar'), 'w') as img:
    def add(name, data):
        ti = tarfile.TarInfo(name); ti.size = len(data); img.addfile(ti, io.BytesIO(data))
    for i, kind in enumerate(['random', 'text', 'random', 'text']):
        raw = layer_tar(kind, total // 4, i)
        diff_ids.append('sha256:' + hashlib.sha256(raw).hexdigest())
        gz = gzip.compress(raw, compresslevel=6, mtime=0)
        name = 'blobs/sha256/' + hashlib.sha256(gz).hexdigest()
        add(name, gz); files.append(name)
    cfg = json.dumps({'architecture': 'amd64', 'os': 'linux', 'config': {'Cmd': ['sh']},
                      'rootfs': {'type': 'layers', 'diff_ids': diff_ids},
                      'history': [{'created_by': 'bench layer %d' % i} for i in range(4)]}).encode()
    cname = 'blobs/sha256/' + hashlib.sha256(cfg).hexdigest()
    add(cname, cfg)
    add('manifest.json', json.dumps([{'Config': cname, 'RepoTags': ['bench/pushpull:1'], 'Layers': files}]).encode())
PY
}

start_daemon
note "assembling a ${SIZE_MB} MB 4-layer image"
make_image "$WORK"
"$WHARF" load -i "$WORK/image.tar" >/dev/null
IMG=$REG/bench/pushpull:1
"$WHARF" tag bench/pushpull:1 "$IMG"
"$WHARF" rmi bench/pushpull:1 >/dev/null
BYTES=$(python3 -c 'import json,sys,tarfile; t=tarfile.open(sys.argv[1]); print(sum(m.size for m in t.getmembers() if m.name.startswith("blobs/")))' "$WORK/image.tar")

secs() { python3 -c 'import sys; print("%.2f" % ((int(sys.argv[2]) - int(sys.argv[1])) / 1e9))' "$@"; }
mbs() { python3 -c 'import sys; print("%.1f" % (int(sys.argv[1]) / 1e6 / float(sys.argv[2])))' "$@"; }
: >"$WORK/push"; : >"$WORK/pull"
for r in $(seq 1 "$RUNS"); do
	stop_registry
	start_registry
	t0=$(date +%s%N); "$WHARF" push "$IMG" >"$WORK/push.log"; t1=$(date +%s%N)
	grep -qiE 'already exists|mounted from' "$WORK/push.log" && note "push $r reused blobs"
	secs "$t0" "$t1" >>"$WORK/push"
	"$WHARF" rmi "$IMG" >/dev/null
	t0=$(date +%s%N); "$WHARF" pull "$IMG" >"$WORK/pull.log"; t1=$(date +%s%N)
	grep -qi 'already exists' "$WORK/pull.log" && note "pull $r was partial"
	secs "$t0" "$t1" >>"$WORK/pull"
	"$WHARF" image inspect "$IMG" >/dev/null || die "pull left no image"
done
SIZE=$("$WHARF" image inspect -f '{{.Size}}' "$IMG")

echo "image: 4 layers, $(python3 -c "print('%.1f' % ($BYTES / 1e6))") MB compressed (gzip), $(python3 -c "print('%.1f' % ($SIZE / 1e6))") MB unpacked; registry: docker-registry $("$REGISTRY" --version 2>&1 | awk '{print $NF}') on $REG; $RUNS runs, $(nproc) CPUs"
echo
echo "| operation | median s | min s | max s | MB/s (median) |"
echo "|---|---:|---:|---:|---:|"
for op in push pull; do
	m=$(median <"$WORK/$op")
	echo "| wharf $op | $m | $(sort -n "$WORK/$op" | head -1) | $(sort -n "$WORK/$op" | tail -1) | $(mbs "$BYTES" "$m") |"
done
# Docker, measured in the same run on a private dockerd (bench/lib.sh
# start_dockerd) when Docker is installed: the same image, the same fresh
# registry before every push, docker rmi before every pull.
if start_dockerd; then
	dk() { docker -H "unix://$DOCKERD_SOCK" "$@"; }
	DV=$(dk version --format '{{.Server.Version}}')
	note "measuring Docker $DV on a private dockerd"
	dk load -i "$WORK/image.tar" >/dev/null
	dk tag bench/pushpull:1 "$IMG"
	dk rmi bench/pushpull:1 >/dev/null # only $IMG names it: rmi before a pull drops the layers
	: >"$WORK/dpush"; : >"$WORK/dpull"
	for r in $(seq 1 "$RUNS"); do
		stop_registry
		start_registry
		t0=$(date +%s%N); dk push "$IMG" >/dev/null; t1=$(date +%s%N)
		secs "$t0" "$t1" >>"$WORK/dpush"
		dk rmi "$IMG" >/dev/null
		t0=$(date +%s%N); dk pull "$IMG" >/dev/null; t1=$(date +%s%N)
		secs "$t0" "$t1" >>"$WORK/dpull"
	done
	dk rmi -f "$IMG" >/dev/null 2>&1 || true
	stop_dockerd
	for op in push pull; do
		m=$(median <"$WORK/d$op")
		w=$(median <"$WORK/$op")
		echo "| docker $DV $op | $m | $(sort -n "$WORK/d$op" | head -1) | $(sort -n "$WORK/d$op" | tail -1) | $(mbs "$BYTES" "$m") (wharf $(python3 -c "print('%.1f' % (float('$m') / float('$w')))")× faster) |"
	done
else
	echo "| docker push / pull | not measured (see above) | | | |"
fi
rm -f "$WORK/image.tar"

# The tutorial's image, as the yardstick (/work/shared/engine-bench) and
# issue 5's reference figures measure it: examples/friendlyhello built on
# a Debian minbase by each engine itself (Docker's classic builder), pushed
# to an empty registry, then every local layer removed (the image, its build
# steps and the Debian base) and pulled back. Pulls alternate which engine
# goes first, as each suffers from the other's file deletions on the same
# disk. wharf's first push compresses the built layers (once); later pushes
# send the pulled gzip blobs as they are; Docker compresses at every push.
# Skipped with FRIENDLYHELLO=0 or without debootstrap/the Debian mirror.
friendlyhello() {
	command -v debootstrap >/dev/null || [ -s /var/cache/wharf-mkimage/debian-bookworm-minbase.tar ] || {
		note "friendlyhello: skipped (no debootstrap)"
		return 0
	}
	"$WHARF" rmi -f "$IMG" >/dev/null 2>&1 || true # the synthetic image
	"$REPO/contrib/mkimage/debian.sh" >"$WORK/debian.tar"
	"$WHARF" import -c 'CMD ["bash"]' - debian:bookworm <"$WORK/debian.tar" >/dev/null
	cp -r "$REPO/examples/friendlyhello" "$WORK/fh"
	"$WHARF" build -q -t friendlyhello "$WORK/fh" >/dev/null
	local img=$REG/bench/friendlyhello:1 dimg=$REG/bench/friendlyhello-docker:1 docker=0 r
	"$WHARF" tag friendlyhello "$img"
	if start_dockerd; then
		docker=1
		dk() { docker -H "unix://$DOCKERD_SOCK" "$@"; }
		dk import -c 'CMD ["bash"]' - debian:bookworm <"$WORK/debian.tar" >/dev/null
		DOCKER_BUILDKIT=0 dk build -q --network host -t friendlyhello "$WORK/fh" >/dev/null 2>&1
		dk tag friendlyhello "$dimg"
	fi
	: >"$WORK/fpush"; : >"$WORK/fpull"; : >"$WORK/dfpush"; : >"$WORK/dfpull"
	wpull() {
		"$WHARF" rmi "$img" friendlyhello debian:bookworm >/dev/null 2>&1 || true
		[ -z "$("$WHARF" images -a -q)" ] || die "layers left before the pull"
		t0=$(date +%s%N); "$WHARF" pull "$img" >"$WORK/fpull.log"; t1=$(date +%s%N)
		grep -qi 'already exists' "$WORK/fpull.log" && note "friendlyhello pull $r was partial"
		secs "$t0" "$t1" >>"$WORK/fpull"
	}
	dpull() {
		dk rmi "$dimg" friendlyhello debian:bookworm >/dev/null 2>&1 || true
		dk image prune -f >/dev/null
		t0=$(date +%s%N); dk pull "$dimg" >/dev/null; t1=$(date +%s%N)
		secs "$t0" "$t1" >>"$WORK/dfpull"
	}
	for r in $(seq 1 "$RUNS"); do
		stop_registry
		start_registry
		t0=$(date +%s%N); "$WHARF" push "$img" >/dev/null; t1=$(date +%s%N)
		secs "$t0" "$t1" >>"$WORK/fpush"
		if ((docker)); then
			t0=$(date +%s%N); dk push "$dimg" >/dev/null; t1=$(date +%s%N)
			secs "$t0" "$t1" >>"$WORK/dfpush"
		fi
		sync
		if ((docker && r % 2 == 0)); then dpull; wpull; else wpull; ((docker)) && dpull; fi
	done
	local bytes dbytes
	bytes=$(manifest_bytes bench/friendlyhello)
	echo
	echo "friendlyhello (examples/friendlyhello on a Debian minbase, each engine's own build): wharf pushes $(python3 -c "print('%.1f' % ($bytes / 1e6))") MB"
	echo
	echo "| operation | median s | min s | max s | MB/s (median) | wharf / Docker |"
	echo "|---|---:|---:|---:|---:|---:|"
	echo "| wharf push (first: compresses the built layers) | $(head -1 "$WORK/fpush") | | | $(mbs "$bytes" "$(head -1 "$WORK/fpush")") | |"
	for op in push pull; do
		local m dm=""
		m=$(median <"$WORK/f$op")
		if ((docker)); then dm=$(median <"$WORK/df$op"); fi
		echo "| wharf $op | $m | $(sort -n "$WORK/f$op" | head -1) | $(sort -n "$WORK/f$op" | tail -1) | $(mbs "$bytes" "$m") | ${dm:+$(python3 -c "print('%.1f× faster' % (float('$dm') / float('$m')))")} |"
	done
	if ((docker)); then
		dbytes=$(manifest_bytes bench/friendlyhello-docker)
		for op in push pull; do
			local m
			m=$(median <"$WORK/df$op")
			echo "| docker $op ($(python3 -c "print('%.1f' % ($dbytes / 1e6))") MB) | $m | $(sort -n "$WORK/df$op" | head -1) | $(sort -n "$WORK/df$op" | tail -1) | $(mbs "$dbytes" "$m") | |"
		done
		dk rmi -f "$dimg" >/dev/null 2>&1 || true
		stop_dockerd
	fi
}

# manifest_bytes REPO: the compressed bytes of REPO:1's layers and config in
# the registry.
manifest_bytes() {
	curl -sf -H 'Accept: application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json' \
		"http://$REG/v2/$1/manifests/1" | python3 -c 'import json,sys; m=json.load(sys.stdin); print(m["config"]["size"] + sum(l["size"] for l in m["layers"]))'
}

[ "${FRIENDLYHELLO:-1}" = 0 ] || friendlyhello
