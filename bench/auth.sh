#!/usr/bin/env bash
# bench/auth.sh: what bearer-token verification and a rate limit cost per request, against
# the same gateway route without them and against nginx passing the header through; all
# behind one fixed-response upstream, on loopback only.
#
# Routes of the bench-only gateway (bench/auth/gateway.yaml):
#   plain    GET /bench/plain    public, no rate limit
#   limited  GET /bench/limited  public, rate limited (a limit it never reaches)
#   hs       GET /bench/hs       HS256 token verified + rate limited
#   rs       GET /bench/rs       RS256 token verified + rate limited
# Every request carries `Authorization: Bearer <token>` (the RS256 token on `rs`, the
# HS256 one elsewhere), so the bytes on the wire barely differ between runs.
#
# Reports, per run: requests/s, the proxy's CPU time per request (utime+stime from
# /proc/<pid>/stat over the measured run), p50/p99, and the ratios to `plain`.
# The method is bench/proxy.sh's; see bench/README.md.
#
# Usage: bench/auth.sh             (from anywhere; it cds to the repository root)
# Knobs (environment): DURATION=10s WARMUP=3s CONNECTIONS=32 THREADS=1 ROUNDS=1
#   RUNS='nginx plain limited hs rs'          which runs, in this order
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
RUNS=${RUNS:-nginx plain limited hs rs}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
UPSTREAM_CPU=${UPSTREAM_CPU:-1}
BASE_PORT=${BASE_PORT:-18080}
UPSTREAM_PORT=$((BASE_PORT + 1))
NGINX_PORT=$((BASE_PORT + 2))
GATEWAY_PORT=$((BASE_PORT + 3))
ADMIN_PORT=$((BASE_PORT + 4))
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/generated}

MANIFEST=bench/auth/gateway.yaml
GENERATED=target/bench-auth/generated # the manifest's `output`
GATEWAY_BIN=$CARGO_TARGET_DIR/release/bench-auth-gateway

# --- tools -------------------------------------------------------------------------------
missing=0
. "$ROOT/bench/lib.sh"
NGINX=$(find_tool nginx "apt-get install -y nginx-light   (or: apt-get install -y nginx)")
WRK=$(find_tool wrk "apt-get install -y wrk")
CURL=$(find_tool curl "apt-get install -y curl")
TASKSET=$(find_tool taskset "apt-get install -y util-linux")
OPENSSL=$(find_tool openssl "apt-get install -y openssl")
find_tool cargo "https://rustup.rs" >/dev/null
if [ "$missing" -ne 0 ]; then
    echo "install the missing tools and run again; this script installs nothing" >&2
    exit 2
fi
CLK_TCK=$(getconf CLK_TCK)

# --- build -------------------------------------------------------------------------------
echo "== generating $GENERATED from $MANIFEST"
cargo run -q -p openapi-gateway-compiler -- generate --manifest "$MANIFEST" --runtime-path runtime >/dev/null
echo "== building the bench gateway (release, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
cargo build --release --manifest-path "$GENERATED/Cargo.toml"
[ -x "$GATEWAY_BIN" ] || { echo "no binary at $GATEWAY_BIN" >&2; exit 1; }

# --- tokens ------------------------------------------------------------------------------
HS_SECRET='bench-hs256-secret-of-at-least-32-bytes!'
RS_PRIVATE=$ROOT/runtime/tests/keys/rsa_private.pem
RS_PUBLIC=$ROOT/runtime/tests/keys/rsa_public.pem
b64url() { "$OPENSSL" base64 -A | tr '+/' '-_' | tr -d '='; }
jwt() { # alg: a token for sub bench-user, valid for a day
    local head payload input signature
    head=$(printf '{"alg":"%s","typ":"JWT"}' "$1" | b64url)
    payload=$(printf '{"sub":"bench-user","iss":"https://id.example.com","aud":"bench","exp":%d,"scope":"read"}' \
        $(($(date +%s) + 86400)) | b64url)
    input="$head.$payload"
    case "$1" in
        HS256) signature=$(printf '%s' "$input" | "$OPENSSL" dgst -sha256 -hmac "$HS_SECRET" -binary | b64url) ;;
        RS256) signature=$(printf '%s' "$input" | "$OPENSSL" dgst -sha256 -sign "$RS_PRIVATE" -binary | b64url) ;;
    esac
    echo "$input.$signature"
}
HS_TOKEN=$(jwt HS256)
RS_TOKEN=$(jwt RS256)

# --- processes ---------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gateway-bench.XXXXXX")
PIDS=()
trap cleanup EXIT
trap 'exit 130' INT TERM

# One nginx instance = one master (PID in PIDS) + one worker; all paths under $WORK.

# The upstream: the same static 200 JSON body as bench/proxy.sh.
BODY='[{"id":"card","name":"Credit or debit card","kind":"card","supports_refunds":true},{"id":"sepa","name":"SEPA direct debit","kind":"bank_transfer","supports_refunds":true}]'
nginx_conf upstream "
    server {
        listen 127.0.0.1:$UPSTREAM_PORT;
        location / {
            default_type application/json;
            return 200 '$BODY';
        }
    }"

# The reference: nginx forwarding everything, Authorization included, unchecked.
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
GATEWAY_UPSTREAM_BENCH=$UPSTREAM_URL \
GATEWAY_LOG=warn \
BENCH_HS_SECRET=$HS_SECRET \
BENCH_RS_PUBLIC_KEY="$(cat "$RS_PUBLIC")" \
    "$TASKSET" -c "$PROXY_CPU" "$GATEWAY_BIN" >"$WORK/gateway.log" 2>&1 &
GATEWAY_PID=$!
PIDS+=("$GATEWAY_PID")

# run name -> port, path, token
run_port() { if [ "$1" = nginx ]; then echo "$NGINX_PORT"; else echo "$GATEWAY_PORT"; fi; }
run_path() { case "$1" in nginx) echo /bench/plain ;; *) echo "/bench/$1" ;; esac; }
run_token() { if [ "$1" = rs ]; then echo "$RS_TOKEN"; else echo "$HS_TOKEN"; fi; }

wait_ok() { # url [token]
    local i
    for i in $(seq 1 100); do
        if "$CURL" -fsS -o /dev/null -H "Authorization: Bearer ${2:-none}" "$1" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "no 2xx from $1 after 10 s" >&2
    "$CURL" -sS -H "Authorization: Bearer ${2:-none}" "$1" >&2 || true
    for log in "$WORK"/*.log; do echo "--- $log" >&2; tail -n 20 "$log" >&2; done
    exit 1
}
wait_ok "$UPSTREAM_URL/"
wait_ok "http://127.0.0.1:$ADMIN_PORT/healthz"
for run in $RUNS; do
    wait_ok "http://127.0.0.1:$(run_port "$run")$(run_path "$run")" "$(run_token "$run")"
done
# A wrong token is refused, so the auth runs do verify.
status=$("$CURL" -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $RS_TOKEN" \
    "http://127.0.0.1:$GATEWAY_PORT/bench/hs")
[ "$status" = 401 ] || { echo "an RS256 token on the HS256 route got $status, not 401" >&2; exit 1; }

proxy_pids() { # name
    case "$1" in
        nginx) echo "$NGINX_PID" $(ps -o pid= --ppid "$NGINX_PID") ;;
        upstream) echo "$UPSTREAM_PID" $(ps -o pid= --ppid "$UPSTREAM_PID") ;;
        *) echo "$GATEWAY_PID" ;;
    esac
}

run_wrk() { # url token duration outfile
    "$TASKSET" -c "$LOAD_CPU" "$WRK" -t"$THREADS" -c"$CONNECTIONS" -d"$3" --latency \
        -H "Authorization: Bearer $2" "$1" >"$4"
}

declare -A RPS CPU_US
measure() { # name round
    local name=$1 url out token pids before after requests seconds rps cpu_us busy p50 p99
    url="http://127.0.0.1:$(run_port "$name")$(run_path "$name")"
    out="$WORK/wrk-$1-$2.txt"
    token=$(run_token "$name")
    pids=$(proxy_pids "$name")
    run_wrk "$url" "$token" "$WARMUP" /dev/null
    before=$(cpu_ticks $pids)
    run_wrk "$url" "$token" "$DURATION" "$out"
    after=$(cpu_ticks $pids)
    if grep -q 'Non-2xx' "$out"; then
        echo "error: $name answered non-2xx responses:" >&2
        cat "$out" >&2
        exit 1
    fi
    requests=$(awk '/requests in/ {print $1}' "$out")
    seconds=$(awk '/requests in/ {sub(/s,$/, "", $4); print $4}' "$out")
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
    cpu_us=$(us_per_request $((after - before)) "$requests")
    busy=$(core_percent $((after - before)) "$seconds")
    p50=$(awk '$1 == "50%" {print $2}' "$out")
    p99=$(awk '$1 == "99%" {print $2}' "$out")
    RPS[$name]=$rps
    CPU_US[$name]=$cpu_us
    printf '%-8s round %d: %10s req/s  %7s us CPU/req  p50 %-8s p99 %-8s proxy CPU %3s%% of a core (%d requests)\n' \
        "$name" "$2" "$rps" "$cpu_us" "$p50" "$p99" "$busy" "$requests"
}

echo "== $(date -u +%Y-%m-%dT%H:%M:%SZ) $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); proxies on CPU $PROXY_CPU, wrk on $LOAD_CPU, upstream on $UPSTREAM_CPU"
echo "== wrk -t$THREADS -c$CONNECTIONS -d$DURATION (after a $WARMUP warm-up); runs: $RUNS"
for round in $(seq 1 "$ROUNDS"); do
    for run in $RUNS; do
        measure "$run" "$round"
    done
    if [ -n "${CPU_US[plain]:-}" ]; then
        for run in $RUNS; do
            [ "$run" = plain ] && continue
            awk -v r="${CPU_US[$run]}" -v p="${CPU_US[plain]}" -v name="$run" \
                'BEGIN { printf "CPU per request %s/plain round %d: %.2f (%+.0f%%)\n", name, '"$round"', r / p, 100 * (r / p - 1) }'
        done
    fi
done
