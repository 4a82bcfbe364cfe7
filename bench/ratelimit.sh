#!/usr/bin/env bash
# bench/ratelimit.sh: what the shared Redis rate-limit store costs per request, against the
# in-memory store, on loopback only.
#
# Builds two variants of the ecommerce example that differ only in `rate_limits.store`
# (memory vs redis), with one policy on every route (a rate high enough that nothing is
# refused), and for each reports: requests/s, the gateway's and redis-server's CPU time
# per request, and latency, at full load (CONNECTIONS) and one request at a time (one
# connection: the added latency of the Redis round trip). See bench/README.md.
#
# Usage: bench/ratelimit.sh         (from anywhere; it cds to the repository root)
# Knobs (environment): DURATION=10s WARMUP=3s CONNECTIONS=32 ROUNDS=1
#   PROXY_CPU=0 LOAD_CPU=1                     cores for the gateway, and for wrk + upstream + redis
#   BASE_PORT=18180                            ports BASE_PORT+1 .. +4 on 127.0.0.1
#   CARGO_TARGET_DIR (default target/generated)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
CONNECTIONS=${CONNECTIONS:-32}
ROUNDS=${ROUNDS:-1}
ROUTE=/api/payment-methods?country=DE
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
BASE_PORT=${BASE_PORT:-18180}
UPSTREAM_PORT=$((BASE_PORT + 1))
REDIS_PORT=$((BASE_PORT + 2))
GATEWAY_PORT=$((BASE_PORT + 3))
ADMIN_PORT=$((BASE_PORT + 4))
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/generated}
OUT=$ROOT/target/bench-ratelimit

# --- tools -------------------------------------------------------------------------------
missing=0
. "$ROOT/bench/lib.sh"
NGINX=$(find_tool nginx "apt-get install -y nginx-light")
WRK=$(find_tool wrk "apt-get install -y wrk")
CURL=$(find_tool curl "apt-get install -y curl")
TASKSET=$(find_tool taskset "apt-get install -y util-linux")
REDIS=$(find_tool redis-server "apt-get install -y redis-server")
find_tool cargo "https://rustup.rs" >/dev/null
if [ "$missing" -ne 0 ]; then
    echo "install the missing tools and run again; this script installs nothing" >&2
    exit 2
fi
CLK_TCK=$(getconf CLK_TCK)

# --- generate and build the two variants --------------------------------------------------
# The example's manifest, renamed, with its specs by absolute path, one policy on every
# route (a million a second: never refused), and the store of the variant.
variant() { # name, store
    mkdir -p "$OUT/$1"
    sed -e "s#^output: .*##" \
        -e "s#name: shop-gateway#name: bench-$1#" \
        -e "s#spec: specs/#spec: $ROOT/examples/ecommerce/specs/#" \
        -e "s#^  base_path: /api#  base_path: /api\n  rate_limit: bench#" \
        -e "s#^  store: memory#  store: $2#" \
        -e "s#^  policies:#  policies:\n    bench: { rate: 1000000/second, key: ip }#" \
        examples/ecommerce/gateway.yaml >"$OUT/$1/gateway.yaml"
    grep -q "rate_limit: bench" "$OUT/$1/gateway.yaml"
    cargo run -q -p openapi-gateway-compiler -- generate --manifest "$OUT/$1/gateway.yaml" \
        --out "target/bench-ratelimit/$1/crate" --runtime-path runtime >"$OUT/$1/generate.log" 2>&1 ||
        { cat "$OUT/$1/generate.log" >&2; exit 1; }
    echo "== building bench-$1 (release, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
    cargo build -q --release --manifest-path "$OUT/$1/crate/Cargo.toml"
}
variant memory memory
variant redis "{ redis: { url_env: BENCH_REDIS_URL } }"

# --- processes ---------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gateway-bench.XXXXXX")
PIDS=()
trap cleanup EXIT
trap 'exit 130' INT TERM

BODY='[{"id":"card","name":"Credit or debit card","kind":"card","supports_refunds":true},{"id":"sepa","name":"SEPA direct debit","kind":"bank_transfer","supports_refunds":true}]'
cat >"$WORK/upstream.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $WORK/upstream.pid;
error_log $WORK/upstream-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/body;
    proxy_temp_path $WORK/proxy;
    fastcgi_temp_path $WORK/fastcgi;
    uwsgi_temp_path $WORK/uwsgi;
    scgi_temp_path $WORK/scgi;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$UPSTREAM_PORT;
        location / {
            default_type application/json;
            return 200 '$BODY';
        }
    }
}
EOF
"$TASKSET" -c "$LOAD_CPU" "$NGINX" -p "$WORK" -c "$WORK/upstream.conf" -e "$WORK/upstream-error.log" &
UPSTREAM_PID=$!
PIDS+=("$UPSTREAM_PID")
"$TASKSET" -c "$LOAD_CPU" "$REDIS" --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
PIDS+=("$REDIS_PID")

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

GATEWAY_PID=
start_gateway() { # variant
    local url=http://127.0.0.1:$UPSTREAM_PORT
    GATEWAY_LISTEN=127.0.0.1:$GATEWAY_PORT \
    GATEWAY_ADMIN_LISTEN=127.0.0.1:$ADMIN_PORT \
    GATEWAY_UPSTREAM_USERS=$url GATEWAY_UPSTREAM_ORDERS=$url GATEWAY_UPSTREAM_PAYMENTS=$url \
    GATEWAY_LOG=warn \
    BENCH_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/ \
    JWT_PUBLIC_KEY="$(cat "$ROOT/runtime/tests/keys/rsa_public.pem")" \
    API_KEYS="bench:bench-key" \
PROVIDER_USERS='bench:$2y$04$9lAb6.EK8ufmFGQB634T.u2ZxcFI9N4vFTvqzCfwDzFCH.ONuTeT.' \
        "$TASKSET" -c "$PROXY_CPU" "$CARGO_TARGET_DIR/release/bench-$1" >"$WORK/gateway-$1.log" 2>&1 &
    GATEWAY_PID=$!
    PIDS+=("$GATEWAY_PID")
    wait_ok "http://127.0.0.1:$ADMIN_PORT/healthz"
    wait_ok "http://127.0.0.1:$GATEWAY_PORT$ROUTE"
}
stop_gateway() {
    kill -TERM "$GATEWAY_PID"
    wait "$GATEWAY_PID" 2>/dev/null || true
}

# One measured wrk run: prints a line, and checks that every answer was a 2xx carrying
# RateLimit headers (so the policy was checked).
measure() { # variant connections round
    local name=$1 connections=$2 out="$WORK/wrk-$1-$2-$3.txt" url="http://127.0.0.1:$GATEWAY_PORT$ROUTE"
    local before after r_before r_after requests rps cpu_us redis_us
    "$TASKSET" -c "$LOAD_CPU" "$WRK" -t1 -c"$connections" -d"$WARMUP" "$url" >/dev/null
    before=$(cpu_ticks "$GATEWAY_PID")
    r_before=$(cpu_ticks "$REDIS_PID")
    "$TASKSET" -c "$LOAD_CPU" "$WRK" -t1 -c"$connections" -d"$DURATION" --latency "$url" >"$out"
    after=$(cpu_ticks "$GATEWAY_PID")
    r_after=$(cpu_ticks "$REDIS_PID")
    if grep -q 'Non-2xx' "$out"; then
        echo "error: $name answered non-2xx responses:" >&2
        cat "$out" >&2
        exit 1
    fi
    requests=$(awk '/requests in/ {print $1}' "$out")
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
    cpu_us=$(us_per_request $((after - before)) "$requests")
    redis_us=$(us_per_request $((r_after - r_before)) "$requests")
    printf '%-6s -c%-3s round %d: %10s req/s  gateway %6s us CPU/req  redis-server %5s us CPU/req  p50 %-8s p99 %-8s (%d requests)\n' \
        "$name" "$connections" "$3" "$rps" "$cpu_us" "$redis_us" \
        "$(awk '$1 == "50%" {print $2}' "$out")" "$(awk '$1 == "99%" {print $2}' "$out")" "$requests"
}

echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); gateway on CPU $PROXY_CPU; wrk, upstream and redis-server on $LOAD_CPU"
echo "== $("$REDIS" --version | cut -d' ' -f1-3); wrk -t1 -d$DURATION (after a $WARMUP warm-up) GET $ROUTE"
for round in $(seq 1 "$ROUNDS"); do
    for name in memory redis; do
        start_gateway "$name"
        "$CURL" -fsS -D - -o /dev/null "http://127.0.0.1:$GATEWAY_PORT$ROUTE" | grep -qi '^ratelimit-limit:' ||
            { echo "error: $name sent no RateLimit headers" >&2; exit 1; }
        measure "$name" "$CONNECTIONS" "$round"
        measure "$name" 1 "$round"
        stop_gateway
    done
done
