#!/usr/bin/env bash
# bench/upstream.sh: what balancing costs. The same gateway binary (the runtime example
# `upstream_bench`) proxies GET /plain to one upstream instance (Policy::DEFAULT) and
# GET /p2c to three instances with least-requests (P2C), health checks every second and
# breakers; nginx proxies to the same three instances (least_conn, keepalive). All on
# loopback. Reports requests/s, CPU time per request, p50/p99 for each.
#
# Usage: bench/upstream.sh   (knobs as in bench/proxy.sh: DURATION WARMUP CONNECTIONS
#   THREADS ROUNDS PROXY_CPU LOAD_CPU UPSTREAM_CPU BASE_PORT CARGO_TARGET_DIR)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
ROUNDS=${ROUNDS:-1}
ROUTE=/payment-methods
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
UPSTREAM_CPU=${UPSTREAM_CPU:-1}
BASE_PORT=${BASE_PORT:-18080}
UPSTREAM_PORT=$((BASE_PORT + 1))
NGINX_PORT=$((BASE_PORT + 2))
GATEWAY_PORT=$((BASE_PORT + 3))
ADMIN_PORT=$((BASE_PORT + 4))
UPSTREAM_PORT2=$((BASE_PORT + 5))
UPSTREAM_PORT3=$((BASE_PORT + 6))
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
GATEWAY_BIN=$CARGO_TARGET_DIR/release/examples/upstream_bench

# --- tools -------------------------------------------------------------------------------
missing=0
. "$ROOT/bench/lib.sh"
NGINX=$(find_tool nginx "apt-get install -y nginx-light   (or: apt-get install -y nginx)")
WRK=$(find_tool wrk "apt-get install -y wrk")
CURL=$(find_tool curl "apt-get install -y curl")
TASKSET=$(find_tool taskset "apt-get install -y util-linux")
find_tool cargo "https://rustup.rs" >/dev/null
if [ "$missing" -ne 0 ]; then
    echo "install the missing tools and run again; this script installs nothing" >&2
    exit 2
fi
CLK_TCK=$(getconf CLK_TCK)

# --- build -------------------------------------------------------------------------------
echo "== building the upstream_bench example (release, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
cargo build --release -p openapi-gateway-runtime --example upstream_bench
[ -x "$GATEWAY_BIN" ] || { echo "no binary at $GATEWAY_BIN" >&2; exit 1; }

# --- processes ---------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gateway-bench.XXXXXX")
PIDS=()
trap cleanup EXIT
trap 'exit 130' INT TERM

# One nginx instance = one master (PID in PIDS) + one worker; all paths under $WORK.

# The upstream: a static 200 JSON body, the shape GET /payment-methods returns.
BODY='[{"id":"card","name":"Credit or debit card","kind":"card","supports_refunds":true},{"id":"sepa","name":"SEPA direct debit","kind":"bank_transfer","supports_refunds":true}]'
nginx_conf upstream "
    server {
        listen 127.0.0.1:$UPSTREAM_PORT;
        listen 127.0.0.1:$UPSTREAM_PORT2;
        listen 127.0.0.1:$UPSTREAM_PORT3;
        location / {
            default_type application/json;
            return 200 '$BODY';
        }
    }"

# The reference proxy: nginx balancing over the three instances (least_conn), with a
# keepalive pool.
nginx_conf proxy "
    upstream backend {
        least_conn;
        server 127.0.0.1:$UPSTREAM_PORT;
        server 127.0.0.1:$UPSTREAM_PORT2;
        server 127.0.0.1:$UPSTREAM_PORT3;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_buffering on;
        }
    }"

"$TASKSET" -c "$UPSTREAM_CPU" "$NGINX" -p "$WORK" -c "$WORK/upstream.conf" -e "$WORK/upstream-error.log" &
UPSTREAM_PID=$!
PIDS+=("$UPSTREAM_PID")
"$TASKSET" -c "$PROXY_CPU" "$NGINX" -p "$WORK" -c "$WORK/proxy.conf" -e "$WORK/proxy-error.log" &
NGINX_PID=$!
PIDS+=("$NGINX_PID")

UPSTREAM_URL=http://127.0.0.1:$UPSTREAM_PORT
GATEWAY_LISTEN=127.0.0.1:$GATEWAY_PORT \
GATEWAY_ADMIN_LISTEN=127.0.0.1:$ADMIN_PORT \
GATEWAY_UPSTREAM_PLAIN=$UPSTREAM_URL \
GATEWAY_UPSTREAM_BALANCED=$UPSTREAM_URL,http://127.0.0.1:$UPSTREAM_PORT2,http://127.0.0.1:$UPSTREAM_PORT3 \
GATEWAY_LOG=warn \
    "$TASKSET" -c "$PROXY_CPU" "$GATEWAY_BIN" >"$WORK/gateway.log" 2>&1 &
GATEWAY_PID=$!
PIDS+=("$GATEWAY_PID")

wait_ok() { # url
    local i
    for i in $(seq 1 100); do
        if "$CURL" -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "no 2xx from $1 after 10 s" >&2
    for log in "$WORK"/*.log; do echo "--- $log" >&2; tail -n 20 "$log" >&2; done
    exit 1
}
wait_ok "$UPSTREAM_URL/"
wait_ok "http://127.0.0.1:$NGINX_PORT$ROUTE"
wait_ok "http://127.0.0.1:$ADMIN_PORT/healthz"
wait_ok "http://127.0.0.1:$GATEWAY_PORT/plain"
wait_ok "http://127.0.0.1:$GATEWAY_PORT/p2c"

# The PIDs whose CPU counts for a proxy: the gateway process, or nginx's master + workers.
proxy_pids() { # name
    case "$1" in
        plain | p2c) echo "$GATEWAY_PID" ;;
        nginx) echo "$NGINX_PID" $(ps -o pid= --ppid "$NGINX_PID") ;;
        upstream) echo "$UPSTREAM_PID" $(ps -o pid= --ppid "$UPSTREAM_PID") ;;
    esac
}

run_wrk() { # url duration outfile
    "$TASKSET" -c "$LOAD_CPU" "$WRK" -t"$THREADS" -c"$CONNECTIONS" -d"$2" --latency "$1" >"$3"
}

declare -A RPS CPU_US P50 P99

echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); proxies on CPU $PROXY_CPU, wrk on $LOAD_CPU, upstream on $UPSTREAM_CPU"
echo "== wrk -t$THREADS -c$CONNECTIONS -d$DURATION (after a $WARMUP warm-up)"
for round in $(seq 1 "$ROUNDS"); do
    measure_url nginx "http://127.0.0.1:$NGINX_PORT$ROUTE" "$round"
    measure_url plain "http://127.0.0.1:$GATEWAY_PORT/plain" "$round"
    measure_url p2c "http://127.0.0.1:$GATEWAY_PORT/p2c" "$round"
    awk -v p="${CPU_US[p2c]}" -v g="${CPU_US[plain]}" -v n="${CPU_US[nginx]}" \
        'BEGIN { printf "round %d CPU per request: p2c/plain %.3f, p2c/nginx %.2f\n", '"$round"', p / g, p / n }'
done
