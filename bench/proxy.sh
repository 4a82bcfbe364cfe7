#!/usr/bin/env bash
# bench/proxy.sh: the generated ecommerce gateway against nginx, both as reverse proxies in
# front of the same fixed-response upstream, on loopback only.
#
# Reports, for each proxy: requests/s, the proxy's CPU time per request (from
# /proc/<pid>/stat utime+stime over the measured run), p50/p99 latency, and the ratios
# gateway/nginx. See bench/README.md for the method and recorded results.
#
# Usage: bench/proxy.sh            (from anywhere; it cds to the repository root)
# Knobs (environment): DURATION=10s WARMUP=3s CONNECTIONS=32 THREADS=1 ROUNDS=1
#   ROUTE='/api/payment-methods?country=DE'   a public GET route of the example
#   PROXY_CPU=0 LOAD_CPU=1 UPSTREAM_CPU=1      cores for the proxies, wrk, the upstream
#   BASE_PORT=18080                            ports BASE_PORT+1 .. +4 on 127.0.0.1
#   CARGO_TARGET_DIR (default target/generated)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
ROUNDS=${ROUNDS:-1}
ROUTE=${ROUTE:-/api/payment-methods?country=DE}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
UPSTREAM_CPU=${UPSTREAM_CPU:-1}
BASE_PORT=${BASE_PORT:-18080}
UPSTREAM_PORT=$((BASE_PORT + 1))
NGINX_PORT=$((BASE_PORT + 2))
GATEWAY_PORT=$((BASE_PORT + 3))
ADMIN_PORT=$((BASE_PORT + 4))
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/generated}

MANIFEST=examples/ecommerce/gateway.yaml
GENERATED=examples/ecommerce/generated
GATEWAY_BIN=$CARGO_TARGET_DIR/release/shop-gateway

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
if [ ! -f "$GENERATED/Cargo.toml" ]; then
    echo "== generating $GENERATED"
    cargo run -q -p openapi-gateway-compiler -- generate --manifest "$MANIFEST" --runtime-path runtime
fi
echo "== building the example gateway (release, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
cargo build --release --manifest-path "$GENERATED/Cargo.toml"
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
        location / {
            default_type application/json;
            return 200 '$BODY';
        }
    }"

# The reference proxy: nginx with a keepalive pool to the upstream.
nginx_conf proxy "
    upstream backend {
        server 127.0.0.1:$UPSTREAM_PORT;
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
GATEWAY_UPSTREAM_USERS=$UPSTREAM_URL \
GATEWAY_UPSTREAM_ORDERS=$UPSTREAM_URL \
GATEWAY_UPSTREAM_PAYMENTS=$UPSTREAM_URL \
GATEWAY_LOG=warn \
JWT_PUBLIC_KEY="$(cat "$ROOT/runtime/tests/keys/rsa_public.pem")" \
API_KEYS="bench:bench-key" \
PROVIDER_USERS='bench:$2y$04$9lAb6.EK8ufmFGQB634T.u2ZxcFI9N4vFTvqzCfwDzFCH.ONuTeT.' \
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
wait_ok "http://127.0.0.1:$GATEWAY_PORT$ROUTE"

# The PIDs whose CPU counts for a proxy: the gateway process, or nginx's master + workers.
proxy_pids() { # name
    case "$1" in
        gateway) echo "$GATEWAY_PID" ;;
        nginx) echo "$NGINX_PID" $(ps -o pid= --ppid "$NGINX_PID") ;;
        upstream) echo "$UPSTREAM_PID" $(ps -o pid= --ppid "$UPSTREAM_PID") ;;
    esac
}

run_wrk() { # url duration outfile
    "$TASKSET" -c "$LOAD_CPU" "$WRK" -t"$THREADS" -c"$CONNECTIONS" -d"$2" --latency "$1" >"$3"
}

declare -A RPS CPU_US P50 P99
measure() { # name port round
    measure_url "$1" "http://127.0.0.1:$2$ROUTE" "$3"
}

echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); proxies on CPU $PROXY_CPU, wrk on $LOAD_CPU, upstream on $UPSTREAM_CPU"
echo "== wrk -t$THREADS -c$CONNECTIONS -d$DURATION (after a $WARMUP warm-up) GET $ROUTE"
for round in $(seq 1 "$ROUNDS"); do
    measure nginx "$NGINX_PORT" "$round"
    measure gateway "$GATEWAY_PORT" "$round"
    awk -v gr="${RPS[gateway]}" -v nr="${RPS[nginx]}" -v gc="${CPU_US[gateway]}" -v nc="${CPU_US[nginx]}" \
        'BEGIN { printf "ratio gateway/nginx round %d: throughput %.2f, CPU per request %.2f\n", '"$round"', gr / nr, gc / nc }'
done
