#!/usr/bin/env bash
# Runs every fuzz target for $1 seconds (default 600), two at a time, from fuzz/corpus plus the
# inputs of past crashes in fuzz/regressions; prints the executions reached. Build first with
# `RUSTC_BOOTSTRAP=1 cargo fuzz build -O`. Optional further arguments: the targets to run.
# Exits non-zero when a target is missing or any target found a crash.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-600}"
bin=target/x86_64-unknown-linux-gnu/release

# One target: its regressions seed the corpus; its exit status is recorded, not fatal here, so
# the other target of the pair runs to the end.
run() {
  local target="$1" status=0
  mkdir -p "corpus/$target"
  if compgen -G "regressions/$target-*" > /dev/null; then
    cp regressions/"$target"-* "corpus/$target/"
  fi
  "$bin/$target" "corpus/$target" -max_total_time="$secs" -print_final_stats=1 \
    > "logs/$target.log" 2>&1 || status=$?
  echo "$target exit $status" >> logs/summary
}

shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(cookie_unseal login_query return_to jwt_parse event_decode)
for target in "${targets[@]}"; do
  [ -x "$bin/$target" ] || { echo "fuzz target $target is not built: run cargo fuzz build -O" >&2; exit 1; }
done
mkdir -p logs
: > logs/summary
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  run "${targets[i]}" &
  if [ -n "${targets[i+1]:-}" ]; then run "${targets[i+1]}" & fi
  wait
done
grep -H "stat::number_of_executed_units\|stat::peak_rss_mb" logs/*.log || true
cat logs/summary
! grep -qv " exit 0$" logs/summary
