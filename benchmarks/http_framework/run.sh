#!/usr/bin/env bash
# Requests/s and latency of one remote-signer-sized JSON POST on three ASGI stacks under uvicorn
# (uvloop + httptools), load from wrk pinned to the other core. Needs: apt-get install wrk;
# pip install 'uvicorn[standard]' starlette fastapi. Usage: bash benchmarks/http_framework/run.sh
set -euo pipefail
cd "$(dirname "$0")"
port=18080
for app in raw star fast; do
  uvicorn apps:$app --port $port --log-level warning --no-access-log --loop uvloop --http httptools &
  pid=$!
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
  echo "== $app"
  taskset -c 1 wrk -t1 -c32 -d10s --latency -s post.lua "http://127.0.0.1:$port/generate-live-payment" \
    | grep -E "Requests/sec|50%|99%"
  kill $pid; wait $pid 2>/dev/null || true
done
