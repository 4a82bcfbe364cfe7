# Shared by the bench scripts: sourced, not run. Expects `missing` (set to 1 by
# find_tool when a tool is absent), `WORK` (the run's folder), `PIDS` (what cleanup stops)
# and `CLK_TCK` (clock ticks per second).

find_tool() { # name, hint
    if command -v "$1" >/dev/null 2>&1; then
        command -v "$1"
    elif [ -x "/usr/sbin/$1" ]; then
        echo "/usr/sbin/$1"
    else
        echo "missing: $1 ($2)" >&2
        missing=1
    fi
}

nginx_conf() { # name, http-block body
    cat >"$WORK/$1.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $WORK/$1.pid;
error_log $WORK/$1-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/$1-body;
    proxy_temp_path $WORK/$1-proxy;
    fastcgi_temp_path $WORK/$1-fastcgi;
    uwsgi_temp_path $WORK/$1-uwsgi;
    scgi_temp_path $WORK/$1-scgi;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
$2
}
EOF
}

cpu_ticks() { # pids...: utime+stime summed (threads included), in clock ticks
    local total=0 pid stat
    for pid in "$@"; do
        stat=$(cat "/proc/$pid/stat")
        stat=${stat##*) } # drop "pid (comm) ": comm may contain spaces
        set -- $stat
        # After the comm field: $1 = state (field 3), so utime (14) = $12, stime (15) = $13.
        total=$((total + ${12} + ${13}))
    done
    echo "$total"
}

# Stops what the run started (PIDS) and removes its folder.
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}

us_per_request() { # cpu ticks, requests: µs of CPU per request, one decimal
    awk -v t="$1" -v hz="$CLK_TCK" -v n="$2" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }'
}

core_percent() { # cpu ticks, seconds: share of one core, in percent
    awk -v t="$1" -v hz="$CLK_TCK" -v s="$2" 'BEGIN { printf "%.0f", 100 * t / hz / s }'
}

# One measured run of wrk against `url`, after a warm-up: requests/s, the proxy's and the
# upstream's CPU per request (from /proc), p50/p99, printed and kept in RPS, CPU_US, P50,
# P99 (which the calling script declares). Needs the script's `proxy_pids` and `run_wrk`;
# NAME_WIDTH pads the name column (default 8).
measure_url() { # name url round
    local name=$1 url=$2 out="$WORK/wrk-$1-$3.txt"
    local pids before after requests seconds rps cpu_us busy up_pids up_before up_after up_us
    pids=$(proxy_pids "$name")
    up_pids=$(proxy_pids upstream)
    run_wrk "$url" "$WARMUP" /dev/null
    before=$(cpu_ticks $pids)
    up_before=$(cpu_ticks $up_pids)
    run_wrk "$url" "$DURATION" "$out"
    after=$(cpu_ticks $pids)
    up_after=$(cpu_ticks $up_pids)
    if grep -q 'Non-2xx' "$out"; then
        echo "error: $name answered non-2xx responses:" >&2
        cat "$out" >&2
        exit 1
    fi
    requests=$(awk '/requests in/ {print $1}' "$out")
    seconds=$(awk '/requests in/ {sub(/s,$/, "", $4); print $4}' "$out")
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
    cpu_us=$(us_per_request $((after - before)) "$requests")
    up_us=$(us_per_request $((up_after - up_before)) "$requests")
    busy=$(core_percent $((after - before)) "$seconds")
    RPS[$name]=$rps
    CPU_US[$name]=$cpu_us
    P50[$name]=$(awk '$1 == "50%" {print $2}' "$out")
    P99[$name]=$(awk '$1 == "99%" {print $2}' "$out")
    printf "%-${NAME_WIDTH:-8}s round"' %d: %10s req/s  %7s us CPU/req  p50 %-8s p99 %-8s proxy CPU %3s%% of a core, upstream %5s us CPU/req (%d requests)\n' \
        "$name" "$3" "$rps" "$cpu_us" "${P50[$name]}" "${P99[$name]}" "$busy" "$up_us" "$requests"
}
