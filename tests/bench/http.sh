#!/bin/sh
# The HTTP adapter under wrk: GET /check/http (nginx auth_request) and POST /?command=allow (Dovecot),
# against nginx answering `return 204` (the HTTP floor: one process, keep-alive), back to back, same wrk
# settings. Prints req/s, p50/p99 and floodgated's fraction of the floor at 16 and 1 connections.
# Run by `make bench` (FG_BENCH_HTTP=0 skips it) or alone: sh tests/bench/http.sh build
# Needs wrk and nginx (apt-get install wrk nginx-light). Not a test: nothing here asserts a time.
set -eu
BUILD=${1:-build}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
SECONDS_EACH=${FG_BENCH_SECONDS:-5}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
command -v wrk >/dev/null || { echo "bench http: wrk is not installed (apt-get install wrk): skipped"; exit 0; }

TMP=$(mktemp -d /tmp/fgbenchhttp.XXXXXX)
PIDS=""
cleanup() { for p in $PIDS; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { python3 -c 'import socket, sys, time
for i in range(500):
    try: socket.create_connection(("127.0.0.1", int(sys.argv[1]))).close(); break
    except OSError: time.sleep(0.01)' "$1"; }
FGPORT=$(free_port); NGPORT=$(free_port)
sed -e "s|@DIR@|$TMP|g" -e "s|@PORT@|$FGPORT|g" "$TOP/tests/bench/bench-http.conf.in" > "$TMP/bench-http.conf"
mkdir -p "$TMP/ntmp"
cat > "$TMP/nginx.conf" <<NGINX
daemon off; master_process off; pid $TMP/nginx.pid; error_log $TMP/nginx-error.log;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $TMP/ntmp; proxy_temp_path $TMP/ntmp; fastcgi_temp_path $TMP/ntmp;
       uwsgi_temp_path $TMP/ntmp; scgi_temp_path $TMP/ntmp;
       server { listen 127.0.0.1:$NGPORT; keepalive_requests 1000000; location / { return 204; } } }
NGINX

# wrk_run PORT SCRIPT CONNS -> "rps=R p50_us=A p99_us=B errors=E"
wrk_run() {
  wrk -t1 -c"$3" -d"${SECONDS_EACH}s" --latency -s "$TOP/tests/bench/$2" "http://127.0.0.1:$1/" 2>&1 | awk '
    function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; if (v ~ /s$/) return v * 1000000; return v }
    $1 == "Requests/sec:" { rps = $2 }
    $1 == "50%" { p50 = us($2) } $1 == "99%" { p99 = us($2) }
    /Non-2xx or 3xx responses:/ { err += $NF } /Socket errors:/ { err += 1 }
    END { printf "rps=%d p50_us=%d p99_us=%d errors=%d\n", rps, p50, p99, err + 0 }'
}
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

"$NGINX" -p "$TMP" -e "$TMP/nginx-error.log" -c "$TMP/nginx.conf" & NGPID=$!; PIDS="$PIDS $NGPID"; wait_port "$NGPORT"
"$TOP/$BUILD/floodgated" -c "$TMP/bench-http.conf" 2>"$TMP/fg.log" & FGPID=$!; PIDS="$PIDS $FGPID"; wait_port "$FGPORT"

echo "floodgate HTTP adapter: wrk, ${SECONDS_EACH}s per run, against nginx 'return 204' (one process)"
for conns in 16 1; do
  N=$(wrk_run "$NGPORT" check.lua "$conns")
  C=$(wrk_run "$FGPORT" check.lua "$conns")
  A=$(wrk_run "$FGPORT" allow.lua "$conns")
  echo "  conns=$conns nginx 204:              $N"
  echo "  conns=$conns GET /check/http:        $C  floodgated/nginx = $(awk -v a="$(field "$C" rps)" -v b="$(field "$N" rps)" 'BEGIN { printf "%.2f", a / b }')"
  echo "  conns=$conns POST /?command=allow:   $A  floodgated/nginx = $(awk -v a="$(field "$A" rps)" -v b="$(field "$N" rps)" 'BEGIN { printf "%.2f", a / b }')"
done
echo "  store_keys=$("$TOP/$BUILD/floodgatectl" -s "$TMP/control.sock" stats | awk '$1 == "store_keys" { print $2 }')" \
     "http_responses_204=$("$TOP/$BUILD/floodgatectl" -s "$TMP/control.sock" stats | awk '$1 == "http_responses.204" { print $2 }')"
