#!/usr/bin/env bash
# bench/http.sh — the gateway against nginx, side by side in one run, and the cost of idle connections.
#
#   bench/http.sh                 (as root or a user who may sudo for the package install)
#
# 1. Installs what is missing (redis-server, postgresql, libhiredis-dev, libpq-dev, nginx-light, wrk,
#    python3, curl), builds the release binary if needed, and starts on free loopback ports, under
#    .data/bench-<pid>/: a Redis (config/redis.conf), a PostgreSQL, `floodgate serve` (FLOODGATE_THREADS=2)
#    and an nginx (bench/nginx.conf.template) that answers the same path with the same fixed JSON body.
# 2. Runs wrk (-t2 -d10s --latency) against both, alternating gateway and nginx, at 100 and 1,000
#    connections, and reads requests/s, p50 and p99.
# 3. Idle connections: a fresh gateway, bench/idle_conns.py holds 10,000 keep-alive connections open (one
#    GET each), and the gateway's VmRSS is read before and with them.
# 4. Rewrites its own section of bench/RESULTS.md (between the http.sh markers) and stops everything,
#    whatever happens.
#
# Knobs, for quick local runs (RESULTS.md records what was used): BENCH_DURATION (10s),
# BENCH_CONNECTIONS ("100 1000"), BENCH_ROUNDS (2), BENCH_IDLE_CONNECTIONS (10000), BENCH_PATH (/health),
# BENCH_NO_BUILD=1 (bench the binary already built, without rebuilding). FLOODGATE_SCRATCH as in scripts/test.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/../scripts/lib/bench.sh"   # and, through it, the other libraries
cd "$FLOODGATE_ROOT"

DURATION=${BENCH_DURATION:-10s}
read -r -a CONNECTIONS <<<"${BENCH_CONNECTIONS:-100 1000}"
ROUNDS=${BENCH_ROUNDS:-2}
IDLE_CONNECTIONS=${BENCH_IDLE_CONNECTIONS:-10000}
BENCH_PATH=${BENCH_PATH:-/health}
THREADS=2
# The gateway's /health answer (docs: API.md); nginx returns exactly these bytes.
BODY='{"status":"ok","redis":"ok","postgres":"ok"}'

# Targets from DESIGN.md ("What fast means").
TARGET_RATIO=0.6
TARGET_P99_MS=10
TARGET_RSS_MB=100

DIR="$FLOODGATE_ROOT/.data/bench-$$"

# What the teardown stops, in this order, if it was started; the log it shows when the bench fails.
bench_stop_at_exit IDLE_PID "idle_conns.py" 5
bench_stop_at_exit GATEWAY_PID "floodgate serve" 10
bench_stop_at_exit NGINX_PID "nginx" 10
bench_show_on_failure gateway 20
bench_traps

# --- Set-up -------------------------------------------------------------------------------------------
bench_setup redis-server postgresql libhiredis-dev libpq-dev nginx-light wrk python3 curl
# 1,000 wrk connections and 10,000 idle ones need descriptors on both ends.
bench_raise_nofile $((IDLE_CONNECTIONS + 1000)) "the idle test may fail to open $IDLE_CONNECTIONS connections"

mkdir -p "$DIR"
bench_pick_ports REDIS_PORT PG_PORT GATEWAY_PORT NGINX_PORT
bench_start_stores test
bench_build
# The idle test holds 10,000 connections; the gateway refuses connections beyond this cap.
export FLOODGATE_MAX_CONNECTIONS=20000
# No worker: /health writes nothing, so there is nothing to persist.
bench_configure

log "starting floodgate serve (FLOODGATE_THREADS=$THREADS) on 127.0.0.1:$GATEWAY_PORT"
bench_start_gateway "$BENCH_PATH"
log "starting nginx (2 workers) on 127.0.0.1:$NGINX_PORT"
bench_start_nginx GET "$BENCH_PATH" 200 "$BODY" "$IDLE_CONNECTIONS"

gateway_body=$(curl -s --max-time 2 "http://127.0.0.1:$GATEWAY_PORT$BENCH_PATH")
nginx_body=$(curl -s --max-time 2 "http://127.0.0.1:$NGINX_PORT$BENCH_PATH")
if [ "$gateway_body" != "$nginx_body" ]; then
    warn "the bodies differ: gateway '$gateway_body', nginx '$nginx_body'"
fi

# --- wrk ----------------------------------------------------------------------------------------------

# measure NAME PORT CONNECTIONS: one wrk run against NAME; its figures into the sums of "NAME CONNECTIONS"
# (requests/s as wrk printed them) and BAD (socket errors + non-2xx answers).
WRK_RUN=0
declare -A BAD
measure() {
    local name=$1 port=$2 connections=$3 key="$1 $3" bad
    note "$name, $connections connections, $DURATION"
    WRK_RUN=$((WRK_RUN + 1))
    bench_wrk "$name" "$DIR/wrk-$name-$connections-$WRK_RUN.txt" 120 \
        -t2 "-c$connections" "-d$DURATION" --latency "http://127.0.0.1:$port$BENCH_PATH"
    bad=$((WRK_SOCKET + WRK_NON2XX))
    note "  $WRK_RPS_EXACT req/s, p50 $WRK_P50 ms, p99 $WRK_P99 ms$([ "$bad" -eq 0 ] || echo ", errors/non-2xx: $bad")"
    bench_add "$key" "$WRK_RPS_EXACT"
    BAD[$key]=$((${BAD[$key]:-0} + bad))
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "wrk: ${CONNECTIONS[*]} connections, $ROUNDS rounds of $DURATION each, gateway and nginx alternating"
for connections in "${CONNECTIONS[@]}"; do
    # A short warm-up of both at this connection count (not recorded).
    run_bounded 60 "" wrk -t2 "-c$connections" -d2s "http://127.0.0.1:$GATEWAY_PORT$BENCH_PATH" >/dev/null || true
    run_bounded 60 "" wrk -t2 "-c$connections" -d2s "http://127.0.0.1:$NGINX_PORT$BENCH_PATH" >/dev/null || true
    for ((round = 1; round <= ROUNDS; round++)); do
        # Odd rounds start with the gateway, even rounds with nginx: neither always runs on a warmer machine.
        if ((round % 2 == 1)); then
            measure gateway "$GATEWAY_PORT" "$connections"
            measure nginx "$NGINX_PORT" "$connections"
        else
            measure nginx "$NGINX_PORT" "$connections"
            measure gateway "$GATEWAY_PORT" "$connections"
        fi
    done
done

# --- Idle connections ---------------------------------------------------------------------------------
# A fresh gateway, so "before" is its baseline and not what the wrk runs left behind. nginx is stopped
# first: it plays no part here.
log "idle connections: $IDLE_CONNECTIONS keep-alive connections held open against a fresh gateway"
bench_stop NGINX_PID
bench_stop GATEWAY_PID
bench_start_gateway "$BENCH_PATH"

vmrss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
sleep 1
RSS_BEFORE_KB=$(vmrss_kb "$GATEWAY_PID")
IDLE_CMD=(python3 "$FLOODGATE_ROOT/bench/idle_conns.py" --port "$GATEWAY_PORT" --path "$BENCH_PATH"
    --count "$IDLE_CONNECTIONS" --deadline 180 --ready-file "$DIR/idle-ready.json"
    --release-file "$DIR/idle-release")
start_in_own_group "${IDLE_CMD[@]}" >"$DIR/idle-final.json" 2>"$DIR/idle.err"
IDLE_PID=$STARTED_PID
wait_for 170 "idle_conns.py to open its connections" test -f "$DIR/idle-ready.json" ||
    die "idle_conns.py did not finish opening connections: $(cat "$DIR/idle.err")"
sleep 2   # let the gateway settle (buffers released after the first request on each connection)
RSS_WITH_KB=$(vmrss_kb "$GATEWAY_PID") || die "the gateway died while holding $IDLE_CONNECTIONS connections"
touch "$DIR/idle-release"
wait_for 60 "idle_conns.py to finish" pid_gone "$IDLE_PID" || true
bench_stop IDLE_PID
IDLE_READY=$(cat "$DIR/idle-ready.json")
IDLE_FINAL=$(cat "$DIR/idle-final.json" 2>/dev/null || echo '{}')
json_field() { python3 -c 'import json, sys; print(json.loads(sys.argv[1]).get(sys.argv[2], "?"))' "$1" "$2"; }
IDLE_OPENED=$(json_field "$IDLE_READY" opened)
IDLE_ERRORS=$(json_field "$IDLE_READY" errors)
IDLE_STILL_OPEN=$(json_field "$IDLE_FINAL" still_open)
note "opened $IDLE_OPENED, still open at measurement $IDLE_STILL_OPEN; VmRSS $RSS_BEFORE_KB kB -> $RSS_WITH_KB kB"

# --- RESULTS.md ---------------------------------------------------------------------------------------
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
verdict() { if awk "BEGIN { exit !($1) }"; then echo "met"; else echo "**missed**"; fi; }

section="$DIR/section.md"
NGINX_DIR_SHOWN=${DIR#"$FLOODGATE_ROOT"/}/nginx
{
    echo "<!-- http.sh begin -->"
    echo "## HTTP: gateway vs nginx (bench/http.sh)"
    echo
    bench_measured floodgate nginx wrk redis
    echo
    echo "Gateway: \`floodgate serve\`, FLOODGATE_THREADS=$THREADS, FLOODGATE_MAX_CONNECTIONS=$FLOODGATE_MAX_CONNECTIONS, against a local Redis and PostgreSQL."
    echo "nginx: 2 workers, \`access_log off\`, \`keepalive_requests 1000000\`, \`reuseport\`, a fixed \`application/json\` body identical to the gateway's: \`$BODY\`."
    echo "Both serve GET $BENCH_PATH on loopback; wrk, the servers and Redis share the machine's $(nproc) cores (load average before the runs: $LOAD_BEFORE)."
    echo "Each figure: the mean of $ROUNDS runs of $DURATION (p99: the worst run), gateway and nginx alternating, after a 2 s warm-up."
    echo
    echo "| connections | gateway req/s | nginx req/s | gateway/nginx | gateway p50 | gateway p99 | nginx p50 | nginx p99 | errors (gw/nginx) |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    ratios=()
    for connections in "${CONNECTIONS[@]}"; do
        g="gateway $connections" n="nginx $connections"
        bench_compare "$g" "$n"
        ratios+=("$connections:$RATIO")
        printf '| %s | %s | %s | %s | %s ms | %.2f ms | %s ms | %.2f ms | %s / %s |\n' "$connections" "$G_RPS" "$N_RPS" \
            "$RATIO" "$G_P50" "${MAX_P99[$g]}" "$N_P50" "${MAX_P99[$n]}" "${BAD[$g]}" "${BAD[$n]}"
    done
    echo
    echo "Targets (DESIGN.md):"
    for entry in "${ratios[@]}"; do
        echo "- gateway/nginx ≥ $TARGET_RATIO at ${entry%%:*} connections: ${entry#*:} — $(verdict "${entry#*:} >= $TARGET_RATIO")"
    done
    if [ -n "${MAX_P99[gateway 1000]:-}" ]; then
        echo "- gateway p99 ≤ $TARGET_P99_MS ms at 1,000 connections: ${MAX_P99[gateway 1000]} ms — $(verdict "${MAX_P99[gateway 1000]} <= $TARGET_P99_MS")"
    fi
    echo
    echo "### Idle keep-alive connections"
    echo
    echo "A fresh gateway; \`bench/idle_conns.py\` opens $IDLE_CONNECTIONS connections, sends one GET $BENCH_PATH on each, reads the answer and keeps the socket open; the gateway's VmRSS is read from /proc before and while they are held."
    echo
    echo "| connections held | VmRSS before | VmRSS with them | difference | still open at measurement |"
    echo "|---:|---:|---:|---:|---:|"
    echo "| $IDLE_OPENED of $IDLE_CONNECTIONS | $(mb "$RSS_BEFORE_KB") MB | $(mb "$RSS_WITH_KB") MB | $(mb $((RSS_WITH_KB - RSS_BEFORE_KB))) MB | $IDLE_STILL_OPEN |"
    echo
    echo "- gateway VmRSS with $IDLE_CONNECTIONS idle connections ≤ $TARGET_RSS_MB MB: $(mb "$RSS_WITH_KB") MB — $(verdict "$RSS_WITH_KB <= $TARGET_RSS_MB * 1024 && $IDLE_OPENED >= $IDLE_CONNECTIONS")"
    if [ "$IDLE_ERRORS" != "{}" ]; then echo "- connections that failed to open: $IDLE_ERRORS"; fi
    echo
    echo "### Commands"
    echo
    echo '```'
    echo "ulimit -n $NOFILE"
    echo "FLOODGATE_THREADS=$THREADS FLOODGATE_MAX_CONNECTIONS=$FLOODGATE_MAX_CONNECTIONS FLOODGATE_PORT=$GATEWAY_PORT ${BIN#"$FLOODGATE_ROOT"/} serve   # gateway"
    echo "nginx -p $NGINX_DIR_SHOWN -c $NGINX_DIR_SHOWN/nginx.conf   # nginx, conf from bench/nginx.conf.template"
    printf '%s\n' "${COMMANDS[@]}"
    echo "${IDLE_CMD[*]//"$FLOODGATE_ROOT"\//}   # idle test, fresh gateway"
    echo '```'
    echo "<!-- http.sh end -->"
} >"$section"

bench_publish http.sh "$section" "| connections"
