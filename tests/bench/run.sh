#!/bin/sh
# make bench: floodgated against null-policy (the floor), back to back, same generator settings.
# Prints req/s, p50/p99 and floodgated's fraction of the floor at 16 and 1 connections, then the
# RSS of floodgated holding about a million live counters. Not a test: nothing here asserts a time.
set -eu
BUILD=${1:-build}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${FG_BENCH_DIR:-$TOP/../shared/bench}
SECONDS_EACH=${FG_BENCH_SECONDS:-5}
[ -f "$SHARED/policy-load.c" ] || { echo "bench: $SHARED/policy-load.c not found (shared/ beside the repository)"; exit 1; }

TMP=$(mktemp -d /tmp/fgbench.XXXXXX)
PIDS=""
cleanup() { for p in $PIDS; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM

cc -O2 -o "$TMP/policy-load" "$SHARED/policy-load.c"
cc -O2 -o "$TMP/null-policy" "$SHARED/null-policy.c"
sed "s|@DIR@|$TMP|g" "$TOP/tests/bench/bench.conf.in" > "$TMP/bench.conf"
sed "s|@DIR@|$TMP|g" "$TOP/tests/bench/bench-greylist.conf.in" > "$TMP/bench-greylist.conf"
sed "s|@DIR@|$TMP|g" "$TOP/tests/bench/bench-watch.conf.in" > "$TMP/bench-watch.conf"
sed "s|@DIR@|$TMP|g" "$TOP/tests/bench/bench-redis.conf.in" > "$TMP/bench-redis.conf"
# 1,000 trusted domains, among them 10 of the 97 sender domains that policy-load uses
for i in $(seq 1 990); do echo "partner$i.example"; done > "$TMP/trusted-domains"
for i in $(seq 0 9); do echo "sender$i.example.org"; done >> "$TMP/trusted-domains"

wait_socket() { i=0; while [ ! -S "$1" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done; [ -S "$1" ]; }
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

run_load() { # socket conns -> the generator's first line
  "$TMP/policy-load" -s "unix:$1" -c "$2" -d "$SECONDS_EACH" -q | head -1
}
# cpu_ticks PID - the server's own CPU time so far, user+sys, in clock ticks (/proc/PID/stat fields 14, 15)
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
TCK=$(getconf CLK_TCK)
# idle_ticks - the machine's idle and iowait time so far, all CPUs, in clock ticks (/proc/stat)
idle_ticks() { awk '/^cpu / { print $5 + $6 }' /proc/stat; }
# measure PID SOCKET CONNS -> "LOADLINE cpu_us_per_req=X": the load, and the server's CPU per request
measure() {
  c0=$(cpu_ticks "$1"); L=$(run_load "$2" "$3"); c1=$(cpu_ticks "$1")
  echo "$L cpu_us_per_req=$(awk -v d="$((c1 - c0))" -v t="$TCK" -v n="$(field "$L" requests)" 'BEGIN { printf "%.3f", d * 1e6 / t / n }')"
}

start_null() { "$TMP/null-policy" "unix:$TMP/null.sock" & NULLPID=$!; PIDS="$PIDS $NULLPID"; wait_socket "$TMP/null.sock"; }
start_fg() { rm -f "$TMP/control.sock"; "$TOP/$BUILD/floodgated" -c "$TMP/${1:-bench}.conf" 2>"$TMP/fg.log" & FGPID=$!; PIDS="$PIDS $FGPID"; wait_socket "$TMP/control.sock"; }
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
# the redis store's server: local, unix socket, no persistence; emptied and its statistics reset before each run
start_redis() {
  redis-server --port 0 --unixsocket "$TMP/redis.sock" --unixsocketperm 700 --save "" --appendonly no --dir "$TMP" \
    >"$TMP/redis.log" 2>&1 & REDISPID=$!; PIDS="$PIDS $REDISPID"; wait_socket "$TMP/redis.sock"
}
rcli() { redis-cli -s "$TMP/redis.sock" "$@"; }
# redis_calls NAME... - calls of these commands since the last CONFIG RESETSTAT (INFO commandstats)
redis_calls() { rcli INFO commandstats | tr -d '\r' | awk -F'[:=,]' -v want=" $* " '
  { n = $1; sub(/^cmdstat_/, "", n) } $1 ~ /^cmdstat_/ && (want == "  " || index(want, " " n " ")) { s += $3 } END { print s + 0 }'; }

echo "floodgate benchmark: policy-load, ${SECONDS_EACH}s per run, back to back with null-policy"
for set in ${FG_BENCH_SETS-bench bench-greylist bench-redis}; do
  echo "rule set tests/bench/$set.conf.in"
  if [ $set = bench-redis ]; then start_redis; fi
  for conns in 16 1; do
    start_null; N=$(measure $NULLPID "$TMP/null.sock" $conns); stop $NULLPID; rm -f "$TMP/null.sock"
    if [ $set = bench-redis ]; then rcli FLUSHALL >/dev/null; rcli CONFIG RESETSTAT >/dev/null; fi
    start_fg $set
    if [ $set = bench-redis ]; then r0=$(cpu_ticks "$REDISPID"); i0=$(idle_ticks); fi
    F=$(measure $FGPID "$TMP/policy.sock" $conns)
    if [ $set = bench-redis ]; then r1=$(cpu_ticks "$REDISPID"); i1=$(idle_ticks); fi
    stop $FGPID
    if [ $set = bench-redis ]; then
      # commands the daemon sent per request, and every command Redis ran (those inside the script too); the
      # redis-server's own CPU per request, and the share of the machine's CPU time left idle during the run (what
      # is idle while Redis is not busy all the time is time lost waiting, not computing)
      req=$(field "$F" requests)
      echo "  conns=$conns redis: commands_per_request=$(awk -v c="$(redis_calls evalsha eval auth select script\|load)" -v n="$req" 'BEGIN { printf "%.3f", c / n }') with_script_calls=$(awk -v c="$(redis_calls)" -v n="$req" 'BEGIN { printf "%.2f", c / n }') redis_cpu_us_per_req=$(awk -v d="$((r1 - r0))" -v t="$TCK" -v n="$req" 'BEGIN { printf "%.3f", d * 1e6 / t / n }') machine_idle=$(awk -v i="$((i1 - i0))" -v t="$TCK" -v c="$(getconf _NPROCESSORS_ONLN)" -v s="$SECONDS_EACH" 'BEGIN { printf "%.0f%%", 100 * i / (t * c * s) }')"
    fi
    nr=$(field "$N" rps); fr=$(field "$F" rps); nc=$(field "$N" cpu_us_per_req); fc=$(field "$F" cpu_us_per_req)
    ratio=$(awk -v a="$fr" -v b="$nr" 'BEGIN { printf "%.2f", a / b }')
    cpu=$(awk -v a="$fc" -v b="$nc" 'BEGIN { printf "%.2f", a / b }')
    echo "  conns=$conns null-policy: rps=$nr p50_us=$(field "$N" p50_us) p99_us=$(field "$N" p99_us) cpu_us_per_req=$nc"
    echo "  conns=$conns floodgated:  rps=$fr p50_us=$(field "$F" p50_us) p99_us=$(field "$F" p99_us) cpu_us_per_req=$fc errors=$(field "$F" errors)"
    echo "  conns=$conns throughput floodgated/null-policy = $ratio   cpu per request floodgated/null-policy = ${cpu}x"
  done
  if [ $set = bench-redis ]; then stop $REDISPID; fi
done

# what a request costs Redis, in instructions (callgrind), with 1, 8 and 16 requests a loop turn, which the store
# sends in calls of 1, 4 and 8 (rediscost.c; the ratio
# above moves with the machine's load and with how many requests share a call, this does not): 60,000
# requests loaded first (tests/bench/rediscost.c, 16 per call; then SAVE), so that the 2,000 measured meet
# hot keys as in a long run, on a redis-server restarted under callgrind with that data
case " ${FG_BENCH_SETS-bench-redis} " in *" bench-redis "*) REDISCOST=${FG_BENCH_REDISCOST:-1} ;; *) REDISCOST=0 ;; esac
if [ "$REDISCOST" = 1 ] && command -v valgrind >/dev/null; then
  echo "redis store: callgrind instructions of redis-server per request (bench-redis, 2,000 requests after 60,000)"
  for k in 1 8 16; do
    rm -f "$TMP/dump.rdb"; start_redis
    "$TOP/$BUILD/tests/rediscost" "$TMP/bench-redis.conf" 60000 16 >/dev/null && rcli SAVE >/dev/null
    stop $REDISPID; rm -f "$TMP/redis.sock"
    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=aeMain --callgrind-out-file="$TMP/rcg.out" \
      redis-server --port 0 --unixsocket "$TMP/redis.sock" --unixsocketperm 700 --save "" --appendonly no --dir "$TMP" \
      >"$TMP/redis.log" 2>&1 & REDISPID=$!; PIDS="$PIDS $REDISPID"; wait_socket "$TMP/redis.sock"
    i=0; until [ "$(rcli PING 2>/dev/null)" = PONG ] || [ $i -ge 1500 ]; do sleep 0.02; i=$((i+1)); done # loaded
    rcli CONFIG RESETSTAT >/dev/null
    R=$("$TOP/$BUILD/tests/rediscost" "$TMP/bench-redis.conf" 2000 $k 60000)
    C=$(redis_calls)
    stop $REDISPID
    ir=$(sed -n 's/^summary: //p' "$TMP/rcg.out")
    echo "  requests_per_turn=$k requests_per_call=$(echo "$R" | sed -n 's/.* calls=\([0-9]*\).*/\1/p' | awk '{ printf "%.1f", 2000 / $1 }') redis_Ir_per_request=$(awk -v a="${ir:-0}" 'BEGIN { printf "%.0f", a / 2000 }') with_script_calls=$(awk -v c="$C" 'BEGIN { printf "%.2f", c / 2000 }') ($(echo "$R" | tr ' ' '\n' | grep -E '^(calls|failed)=' | tr '\n' ' ' | sed 's/ $//'))"
  done
fi

# FG_BENCH_SETS="bench" FG_BENCH_WATCH=0 FG_BENCH_MEMORY=0: only some parts
if [ "${FG_BENCH_WATCH:-1}" = 1 ]; then
# log watching: the policy load at 16 connections, once quiet and once while 100,000 log lines arrive
echo "log watch: 16 connections, p99 of policy answers with and without a burst of 100,000 log lines"
awk 'BEGIN { for (i = 0; i < 100000; i++) printf "Nov 25 10:01:02 mx postfix/smtpd[2218]: warning: unknown[198.51.%d.%d]: SASL LOGIN authentication failed: UGFzc3dvcmQ6\n", i / 250 % 250, i % 250 }' > "$TMP/burst.log"
: > "$TMP/mail.log"
start_fg bench-watch; Q=$(run_load "$TMP/policy.sock" 16)
( sleep 1; cat "$TMP/burst.log" >> "$TMP/mail.log" ) & B=$(run_load "$TMP/policy.sock" 16)
LINES=$("$TOP/$BUILD/floodgatectl" -s "$TMP/control.sock" watches | awk '$1 == "watch.postfix-sasl.matched" { print $2 }')
stop $FGPID
echo "  quiet: rps=$(field "$Q" rps) p50_us=$(field "$Q" p50_us) p99_us=$(field "$Q" p99_us) p999_us=$(field "$Q" p999_us)"
echo "  burst: rps=$(field "$B" rps) p50_us=$(field "$B" p50_us) p99_us=$(field "$B" p99_us) p999_us=$(field "$B" p999_us) lines_matched=$LINES"
fi

# the ban check (issue 8): instructions per request through the engine with 10 and with 1,000,000 bans
# loaded (none matching), counted by callgrind: a figure that the machine's load does not move
if [ "${FG_BENCH_BANS:-1}" = 1 ]; then
if command -v valgrind >/dev/null; then
  echo "ban check: callgrind instructions per request (bench rule set, 20,000 requests, none banned)"
  for n in 10 1000000; do
    line="  bans=$n"
    for fn in engine_eval ban_match; do
      valgrind --tool=callgrind --toggle-collect=$fn --callgrind-out-file="$TMP/cg.out" \
        "$TOP/$BUILD/tests/bancost" "$TMP/bench.conf" $n 20000 >/dev/null 2>"$TMP/cg.log"
      ir=$(sed -n 's/^==[0-9]*== Collected : //p' "$TMP/cg.log")
      line="$line ${fn}_Ir_per_request=$(awk -v a="${ir:-0}" 'BEGIN { printf "%.0f", a / 20000 }')"
    done
    echo "$line"
  done
else
  echo "ban check: valgrind not installed, skipped"
fi
fi

# the HTTP adapter: GET /check/http and Dovecot's allow call under wrk, against nginx's `return 204`
if [ "${FG_BENCH_HTTP:-1}" = 1 ]; then sh "$TOP/tests/bench/http.sh" "$BUILD"; fi

[ "${FG_BENCH_MEMORY:-1}" = 1 ] || exit 0
# memory: fill the store with about a million live counters (4 per request, spread over big pools)
start_fg
"$TMP/policy-load" -s "unix:$TMP/policy.sock" -c 16 -n ${FG_BENCH_FILL:-400000} -i 1000000 -u 1000000 -r 1 -q | head -1 >/dev/null
KEYS=$("$TOP/$BUILD/floodgatectl" -s "$TMP/control.sock" stats | awk '$1 == "store_keys" { print $2 }')
RSS=$(awk '/^VmRSS/ { print $2 }' /proc/$FGPID/status)
echo "memory: store_keys=$KEYS VmRSS_kB=$RSS bytes_per_counter=$(awk -v r="$RSS" -v k="$KEYS" 'BEGIN { printf "%.0f", r * 1024 / k }') RSS_per_1M_counters_MB=$(awk -v r="$RSS" -v k="$KEYS" 'BEGIN { printf "%.0f", r / 1024 * 1000000 / k }')"
stop $FGPID
