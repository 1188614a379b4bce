#!/usr/bin/env bash
# Runs every fuzz target for $1 seconds (default 600), two at a time; prints executions reached.
set -u
cd "$(dirname "$0")"
secs="${1:-600}"
bin=target/x86_64-unknown-linux-gnu/release
run() { "$bin/$1" "corpus/$1" -max_total_time="$secs" -print_final_stats=1 > "logs/$1.log" 2>&1; echo "$1 exit $?" >> logs/summary; }
mkdir -p logs; : > logs/summary
run cookie_unseal & run login_query & wait
run return_to & run jwt_parse & wait
run event_decode
grep -H "stat::number_of_executed_units\|stat::peak_rss_mb" logs/*.log
cat logs/summary
