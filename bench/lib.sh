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
