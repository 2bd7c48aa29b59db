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
source "$here/../scripts/lib/common.sh"
source "$here/../scripts/lib/packages.sh"
source "$here/../scripts/lib/redis.sh"
source "$here/../scripts/lib/postgres.sh"
source "$here/../scripts/lib/bench.sh"
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

RESULTS_FILE="$FLOODGATE_ROOT/bench/RESULTS.md"
DIR="$FLOODGATE_ROOT/.data/bench-$$"

GATEWAY_PID=""
NGINX_PID=""
IDLE_PID=""
REDIS_STARTED=0
PG_STARTED=0

# --- Teardown -----------------------------------------------------------------------------------------
teardown() {
    local status=$?
    set +e
    trap '' INT TERM HUP PIPE
    log "tearing down the bench"
    if [ -n "$BOUNDED_PGID" ]; then stop_session "$BOUNDED_PGID" "running step" 5; fi
    if [ -n "$IDLE_PID" ]; then stop_session "$IDLE_PID" "idle_conns.py" 5; fi
    if [ -n "$GATEWAY_PID" ]; then stop_session "$GATEWAY_PID" "floodgate serve" 10; fi
    if [ -n "$NGINX_PID" ]; then stop_session "$NGINX_PID" "nginx" 10; fi
    if [ "$REDIS_STARTED" -eq 1 ]; then redis_stop "$DIR/redis" NOSAVE; fi
    if [ "$PG_STARTED" -eq 1 ]; then pg_stop "$DIR/pg"; fi
    if [ "$status" -ne 0 ] && [ -f "$DIR/gateway.log" ]; then
        warn "the bench failed; last lines of the gateway's log:"
        tail -n 20 "$DIR/gateway.log" >&2
    fi
    rm -rf "$DIR"
    exit "$status"
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# --- Set-up -------------------------------------------------------------------------------------------
log "checking Debian packages"
ensure_packages redis-server postgresql libhiredis-dev libpq-dev nginx-light wrk python3 curl
ensure_swift_on_path
pg_find_bindir
scratch_args

# 1,000 wrk connections and 10,000 idle ones need descriptors on both ends (each process has its own limit).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
[ "$NOFILE" = "unlimited" ] && NOFILE=1048576
if [ "$NOFILE" -lt $((IDLE_CONNECTIONS + 1000)) ]; then
    warn "open-files limit is $NOFILE (could not raise it to 65536): the idle test may fail to open $IDLE_CONNECTIONS connections"
fi

mkdir -p "$DIR"
pick_free_port REDIS_PORT
pick_free_port PG_PORT
pick_free_port GATEWAY_PORT
pick_free_port NGINX_PORT

log "starting Redis on 127.0.0.1:$REDIS_PORT and PostgreSQL on 127.0.0.1:$PG_PORT"
redis_write_conf "$DIR/redis" "$REDIS_PORT" yes
REDIS_STARTED=1
redis_start_daemon "$DIR/redis"
pg_init "$DIR/pg" test
PG_STARTED=1   # our own fresh folder: whatever runs from it is ours to stop
pg_start "$DIR/pg" "$PG_PORT"
pg_ensure_role_and_database "$PG_PORT" floodgate floodgate

BIN="$(scratch_dir)/release/floodgate"
TREE=$(git -C "$FLOODGATE_ROOT" describe --always --dirty 2>/dev/null || echo unknown)
if [ "${BENCH_NO_BUILD:-0}" = 1 ] && [ -x "$BIN" ]; then
    log "using the existing $BIN as is (BENCH_NO_BUILD=1)"
    BUILD_NOTE="binary built $(date -u -r "$BIN" '+%Y-%m-%d %H:%M UTC'), not rebuilt; working tree at $TREE"
else
    BUILD_NOTE="built from $TREE"
    log "building the release binary (swift build -c release --product floodgate)"
    run_bounded 3600 "" swift build -c release --product floodgate "${SCRATCH_ARGS[@]}" || die "the build failed"
fi
[ -x "$BIN" ] || die "the build did not produce $BIN"

export FLOODGATE_REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
export FLOODGATE_PG_URL="postgresql://floodgate@127.0.0.1:$PG_PORT/floodgate"
export FLOODGATE_PORT="$GATEWAY_PORT"
export FLOODGATE_THREADS="$THREADS"
# The idle test holds 10,000 connections; the gateway refuses connections beyond this cap.
export FLOODGATE_MAX_CONNECTIONS=20000
# No worker: /health writes nothing, so there is nothing to persist.

run_bounded 300 "" "$BIN" migrate || die "floodgate migrate failed"

# http_ok PORT: GET BENCH_PATH answers 200.
http_ok() { curl -fs --max-time 2 -o /dev/null "http://127.0.0.1:$1$BENCH_PATH"; }

# start_gateway: a fresh `floodgate serve`, its output in gateway.log; sets GATEWAY_PID.
start_gateway() {
    start_in_own_group "$BIN" serve >>"$DIR/gateway.log" 2>&1
    GATEWAY_PID=$STARTED_PID
    local deadline=$((SECONDS + 60))
    until http_ok "$GATEWAY_PORT"; do
        pid_alive "$GATEWAY_PID" || die "floodgate serve exited during start-up"
        [ "$SECONDS" -lt "$deadline" ] || die "the gateway did not answer 200 on $BENCH_PATH within 60 s"
        sleep 0.2
    done
}

# start_nginx: nginx from bench/nginx.conf.template in DIR/nginx; sets NGINX_PID.
start_nginx() {
    local ndir="$DIR/nginx" user_directive="" temp_paths="" module path
    mkdir -p "$ndir"
    # As root, nginx's workers drop to an unprivileged user; as anyone else there is nothing to drop.
    if is_root; then user_directive="user nobody $(id -gn nobody 2>/dev/null || echo nogroup);"; fi
    # Temporary folders inside ndir instead of the compiled-in /var/lib/nginx (not writable for a normal
    # user), for each module this nginx has.
    for module in client_body proxy fastcgi uwsgi scgi; do
        if [ "$module" = client_body ] || ! nginx -V 2>&1 | grep -q -- "--without-http_${module}_module"; then
            path="$ndir/tmp-$module"
            mkdir -p "$path"
            temp_paths+="    ${module}_temp_path $path;"$'\n'
        fi
    done
    if is_root; then chown -R nobody "$ndir"/tmp-* 2>/dev/null || true; fi
    local template
    template=$(<"$FLOODGATE_ROOT/bench/nginx.conf.template")
    template=${template//@USER_DIRECTIVE@/$user_directive}
    template=${template//@NOFILE@/$NOFILE}
    template=${template//@DIR@/$ndir}
    template=${template//@WORKER_CONNECTIONS@/$((IDLE_CONNECTIONS + 2000))}
    template=${template//@TEMP_PATHS@/${temp_paths%$'\n'}}
    template=${template//@PORT@/$NGINX_PORT}
    template=${template//@PATH@/$BENCH_PATH}
    template=${template//@BODY@/$BODY}
    printf '%s\n' "$template" >"$ndir/nginx.conf"
    nginx -t -q -p "$ndir" -e "$ndir/error.log" -c "$ndir/nginx.conf" || die "nginx rejected $ndir/nginx.conf"
    start_in_own_group nginx -p "$ndir" -e "$ndir/error.log" -c "$ndir/nginx.conf"
    NGINX_PID=$STARTED_PID
    wait_for 20 "nginx on port $NGINX_PORT" http_ok "$NGINX_PORT" || die "nginx did not start (see $ndir/error.log)"
}

log "starting floodgate serve (FLOODGATE_THREADS=$THREADS) on 127.0.0.1:$GATEWAY_PORT"
start_gateway
log "starting nginx (2 workers) on 127.0.0.1:$NGINX_PORT"
start_nginx

gateway_body=$(curl -s --max-time 2 "http://127.0.0.1:$GATEWAY_PORT$BENCH_PATH")
nginx_body=$(curl -s --max-time 2 "http://127.0.0.1:$NGINX_PORT$BENCH_PATH")
if [ "$gateway_body" != "$nginx_body" ]; then
    warn "the bodies differ: gateway '$gateway_body', nginx '$nginx_body'"
fi

# --- wrk ----------------------------------------------------------------------------------------------

# to_ms VALUE: wrk's "850.00us", "1.20ms", "2.01s", "1.00m" in milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; unit = v; sub(/^[0-9.]+/, "", unit)
        if (unit == "us") n /= 1000; else if (unit == "s") n *= 1000; else if (unit == "m") n *= 60000
        printf "%.3f", n }'
}

# run_wrk NAME PORT CONNECTIONS DURATION: one wrk run; its output lands in DIR/wrk-NAME-CONNECTIONS-N.txt
# and its figures in WRK_RPS, WRK_P50, WRK_P99 (ms) and WRK_BAD (socket errors + non-2xx answers).
WRK_RUN=0
run_wrk() {
    local name=$1 port=$2 connections=$3 duration=$4 out
    WRK_RUN=$((WRK_RUN + 1))
    out="$DIR/wrk-$name-$connections-$WRK_RUN.txt"
    local cmd=(wrk -t2 "-c$connections" "-d$duration" --latency "http://127.0.0.1:$port$BENCH_PATH")
    run_bounded 120 "" "${cmd[@]}" >"$out" || die "wrk failed against $name: $(cat "$out")"
    WRK_RPS=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
    WRK_P50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
    WRK_P99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
    WRK_BAD=$(awk '/Socket errors:/ { gsub(/,/, ""); s += $4 + $6 + $8 + $10 }
                   /Non-2xx or 3xx responses:/ { s += $5 } END { print s + 0 }' "$out")
    [ -n "$WRK_RPS" ] || die "could not read wrk's output: $(cat "$out")"
    COMMANDS+=("${cmd[*]}   # $name")
}

# Sums per "target connections" for the means, and the worst p99.
declare -A SUM_RPS SUM_P50 MAX_P99 BAD
COMMANDS=()
measure() {
    local name=$1 port=$2 connections=$3 key="$1 $3"
    note "$name, $connections connections, $DURATION"
    run_wrk "$name" "$port" "$connections" "$DURATION"
    note "  $WRK_RPS req/s, p50 $WRK_P50 ms, p99 $WRK_P99 ms$([ "$WRK_BAD" -eq 0 ] || echo ", errors/non-2xx: $WRK_BAD")"
    SUM_RPS[$key]=$(awk -v a="${SUM_RPS[$key]:-0}" -v b="$WRK_RPS" 'BEGIN { print a + b }')
    SUM_P50[$key]=$(awk -v a="${SUM_P50[$key]:-0}" -v b="$WRK_P50" 'BEGIN { print a + b }')
    MAX_P99[$key]=$(awk -v a="${MAX_P99[$key]:-0}" -v b="$WRK_P99" 'BEGIN { print (b > a) ? b : a }')
    BAD[$key]=$((${BAD[$key]:-0} + WRK_BAD))
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
stop_session "$NGINX_PID" "nginx" 10
NGINX_PID=""
stop_session "$GATEWAY_PID" "floodgate serve" 10
GATEWAY_PID=""
start_gateway

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
stop_session "$IDLE_PID" "idle_conns.py" 5
IDLE_PID=""
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
    echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores, Linux $(uname -r)" \
        "($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)); $("$BIN" version 2>/dev/null | head -n 1 || echo 'floodgate (version unknown)')" \
        "($BUILD_NOTE)," \
        "$(nginx -v 2>&1 | sed 's/^nginx version: //'), $(wrk -v 2>&1 | head -n 1 | awk '{ print $1, $2 }'), redis $(redis-server --version | grep -o 'v=[0-9.]*' | cut -c3-)."
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
        g_rps=$(awk -v s="${SUM_RPS[$g]}" -v r="$ROUNDS" 'BEGIN { printf "%.0f", s / r }')
        n_rps=$(awk -v s="${SUM_RPS[$n]}" -v r="$ROUNDS" 'BEGIN { printf "%.0f", s / r }')
        ratio=$(awk -v a="$g_rps" -v b="$n_rps" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')
        ratios+=("$connections:$ratio")
        g_p50=$(awk -v s="${SUM_P50[$g]}" -v r="$ROUNDS" 'BEGIN { printf "%.2f", s / r }')
        n_p50=$(awk -v s="${SUM_P50[$n]}" -v r="$ROUNDS" 'BEGIN { printf "%.2f", s / r }')
        printf '| %s | %s | %s | %s | %s ms | %.2f ms | %s ms | %.2f ms | %s / %s |\n' "$connections" "$g_rps" "$n_rps" \
            "$ratio" "$g_p50" "${MAX_P99[$g]}" "$n_p50" "${MAX_P99[$n]}" "${BAD[$g]}" "${BAD[$n]}"
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

bench_write_section http.sh "$section" "$RESULTS_FILE"

echo
sed -n '/^| connections/,/^$/p' "$section"
grep -E '^- ' "$section"
log "wrote bench/RESULTS.md (section http.sh)"
