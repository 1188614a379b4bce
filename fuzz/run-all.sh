#!/usr/bin/env bash
# Runs every fuzz target for $1 seconds (default 600), two at a time, from fuzz/corpus plus the
# inputs of past crashes in fuzz/regressions; prints the executions reached. Build first with
# `RUSTC_BOOTSTRAP=1 cargo fuzz build -O`. Optional further arguments: the targets to run.
set -u
cd "$(dirname "$0")"
secs="${1:-600}"
bin=target/x86_64-unknown-linux-gnu/release
run() { mkdir -p "corpus/$1"; cp regressions/"$1"-* "corpus/$1/" 2>/dev/null; "$bin/$1" "corpus/$1" -max_total_time="$secs" -print_final_stats=1 > "logs/$1.log" 2>&1; echo "$1 exit $?" >> logs/summary; }
mkdir -p logs; : > logs/summary
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(cookie_unseal login_query return_to jwt_parse event_decode)
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  run "${targets[i]}" &
  [ -n "${targets[i+1]:-}" ] && run "${targets[i+1]}" &
  wait
done
grep -H "stat::number_of_executed_units\|stat::peak_rss_mb" logs/*.log
cat logs/summary
