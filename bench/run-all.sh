#!/usr/bin/env bash
# Runs every benchmark of issue 6 in one go, with one build of tether, and
# prints their markdown tables (the source of bench/RESULTS.md):
#   port-forward throughput (1 and 8 connections) against direct TCP and
#   ssh -L, with and without TLS; echo latency at 1/100/1,000 sessions;
#   resume time over 100 cuts; session start → first byte (bench/tunnel);
#   gateway memory per idle session at 1,000 and 10,000 (bench/gateway);
#   ResumeSession requests/s and p99 (bench/resume); agent idle memory and
#   session start with the default shell (bench/agent).
# Usage, from anywhere in the repository, on a quiet machine:
#   bash bench/run-all.sh          # the full run (about 15 minutes here)
#   bash bench/run-all.sh quick    # smaller sizes, to check the programs work
set -euo pipefail
cd "$(dirname "$0")/.."
quick=${1:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/tether" ./cmd/tether

echo "# Tether benchmarks"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'),"\
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs,"\
  "$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(go version | cut -d' ' -f3),"\
  "load $(cut -d' ' -f1-3 /proc/loadavg)"
echo

if [ "$quick" = quick ]; then
  go run ./bench/tunnel -tether "$tmp/tether" -mib 32 -rounds 1 -levels 1,10 -keys 200 -cuts 10 -starts 10
  go run ./bench/gateway -tether "$tmp/tether" -n 200 -warmup 20 -settle 3s
  go run ./bench/resume -c 4 -d 2s -warmup 1s
  go run ./bench/agent -tether "$tmp/tether" -sessions 5 -idle 2s
else
  go run ./bench/tunnel -tether "$tmp/tether"
  go run ./bench/gateway -tether "$tmp/tether" -n 1000,10000
  go run ./bench/resume -c 4 -d 10s
  go run ./bench/agent -tether "$tmp/tether" -sessions 50
fi
