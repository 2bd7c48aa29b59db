#!/usr/bin/env bash
# bench/poll.sh — waiting-queue polls through the gateway against nginx, side by side in one run, and
# what a waiting user costs Redis at 1,000,000 waiting (issue 5; DESIGN.md "What fast means").
#
#   bench/poll.sh                 (as root or a user who may sudo for the package install)
#
# 1. Installs what is missing (redis-server, postgresql, libhiredis-dev, libpq-dev, nginx-light, wrk,
#    python3, curl), builds the release binary, and starts on free loopback ports, under
#    .data/bench-poll-<pid>/: a Redis (the shipped config/redis.conf), a PostgreSQL, `floodgate serve`
#    (FLOODGATE_THREADS=2, an admin key of its own) and, later, an nginx (bench/nginx.conf.template).
# 2. Seeds BENCH_USERS (10,000) users (`floodgate seed users`), creates an event whose queue admits nobody
#    (maxActive 0) through POST /admin/events, and enters every user with POST /events/{id}/queue
#    (bench/poll/queue.py: keep-alive connections, a few threads): all WAITING, one queue token each.
# 3. Captures one real poll answer (a user in the middle of the line) and serves exactly those bytes from
#    nginx on the same path.
# 4. Runs wrk (-t2 -c1000 -d10s --latency, bench/poll/poll.lua: every request a different
#    (bearer, queue token) pair, cycling through all of them) against GET /events/{id}/queue on the
#    gateway and the same requests on nginx, alternating, BENCH_ROUNDS rounds; reads polls/s, p50, p99
#    and the errors and non-2xx answers, and checks afterwards that the users still wait.
# 5. Memory: a fresh event (created through the admin API, so its settings are in Redis), the gateway
#    stopped (its admission ticker would otherwise run on that queue too), AOF switched off for this
#    throw-away Redis, then BENCH_MEMORY_USERS (1,000,000) `EVALSHA <sha1 of lua/queue.lua> 13 <keys> enter`
#    calls — the gateway's own script, keys and arguments — pushed through `redis-cli --pipe`. Reads
#    ZCARD of the wait ZSET, MEMORY USAGE of it and of the seen bitmaps, and INFO used_memory before and
#    after: bytes per waiting user.
# 6. Rewrites its own section of bench/RESULTS.md (between the poll.sh markers) and stops everything it
#    started, whatever happens.
#
# Knobs, for quick local runs (RESULTS.md records what was used): BENCH_DURATION (10s),
# BENCH_CONNECTIONS (1000), BENCH_ROUNDS (2), BENCH_USERS (10000), BENCH_MEMORY_USERS (1000000),
# BENCH_NO_BUILD=1 (bench the binary already built, without rebuilding), BENCH_KEEP=1 (keep the data
# folder for a look afterwards). FLOODGATE_SCRATCH as in scripts/test.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/../scripts/lib/bench.sh"   # and, through it, the other libraries
cd "$FLOODGATE_ROOT"

DURATION=${BENCH_DURATION:-10s}
CONNECTIONS=${BENCH_CONNECTIONS:-1000}
ROUNDS=${BENCH_ROUNDS:-2}
USERS=${BENCH_USERS:-10000}
MEMORY_USERS=${BENCH_MEMORY_USERS:-1000000}
THREADS=2
ENTER_THREADS=8
# wrk's duration in seconds, for the time bound of each run.
DURATION_SECONDS=$(seconds_of "$DURATION")
[ "$DURATION_SECONDS" -gt 0 ] || die "BENCH_DURATION=$DURATION: expected something like 10s"

# Targets from DESIGN.md ("What fast means") and issue 5.
TARGET_RATIO=0.6
TARGET_P99_MS=10
TARGET_BYTES_PER_USER=150

DIR="$FLOODGATE_ROOT/.data/bench-poll-$$"
QUEUE_PY="$FLOODGATE_ROOT/bench/poll/queue.py"
POLL_LUA="$FLOODGATE_ROOT/bench/poll/poll.lua"

# What the teardown stops, in this order, if it was started; the log it shows when the bench fails.
bench_stop_at_exit GATEWAY_PID "floodgate serve" 10
bench_stop_at_exit NGINX_PID "nginx" 10
bench_show_on_failure gateway 20
BENCH_KEEPABLE=1   # BENCH_KEEP=1 keeps DIR
bench_traps

# --- Set-up -------------------------------------------------------------------------------------------
bench_setup redis-server postgresql libhiredis-dev libpq-dev nginx-light wrk python3 curl
bench_raise_nofile $((CONNECTIONS * 2 + 1000)) "$CONNECTIONS connections may not all open"

mkdir -p "$DIR"
bench_pick_ports REDIS_PORT PG_PORT GATEWAY_PORT NGINX_PORT
bench_start_stores test
bench_build
# No worker: nothing here writes an outbox event (maxActive 0 admits nobody).
bench_admin_key
bench_configure

queue_py() { python3 "$QUEUE_PY" "$@"; }
json_field() { python3 -c 'import json, sys; print(json.loads(sys.argv[1]).get(sys.argv[2], "?"))' "$1" "$2"; }

log "starting floodgate serve (FLOODGATE_THREADS=$THREADS) on 127.0.0.1:$GATEWAY_PORT"
bench_start_gateway /health

# --- Users, event, places in line ---------------------------------------------------------------------
bench_seed_users "$USERS"

EVENT=$(queue_py create-event --port "$GATEWAY_PORT" --admin-key "$ADMIN_KEY" --name "Bench poll") ||
    die "could not create the event"
QUEUE_PATH="/events/$EVENT/queue"
WAIT_KEY="{ev:$EVENT}:queue:wait"
note "event $EVENT (maxActive 0: everybody waits)"

log "entering $USERS users into the queue ($ENTER_THREADS threads, keep-alive)"
run_bounded 600 "" python3 "$QUEUE_PY" enter --port "$GATEWAY_PORT" --event "$EVENT" --users "$DIR/users.csv" \
    --out "$DIR/pairs.txt" --threads "$ENTER_THREADS" --deadline 540 >"$DIR/enter.json" ||
    die "not every user got a WAITING place: $(cat "$DIR/enter.json")"
ENTER_SUMMARY=$(cat "$DIR/enter.json")
ENTER_SECONDS=$(json_field "$ENTER_SUMMARY" seconds)
WAITING_BEFORE=$(rcli ZCARD "$WAIT_KEY")
note "$(json_field "$ENTER_SUMMARY" waiting) WAITING in ${ENTER_SECONDS}s (positions $(json_field "$ENTER_SUMMARY" position_min)..$(json_field "$ENTER_SUMMARY" position_max)); ZCARD $WAITING_BEFORE"
[ "$WAITING_BEFORE" -eq "$USERS" ] || die "the wait ZSET holds $WAITING_BEFORE users, not $USERS"

# One real poll answer, of a user in the middle of the line (a position with as many digits as most).
BODY_PAIR=$((USERS / 2))
queue_py poll --port "$GATEWAY_PORT" --event "$EVENT" --pairs "$DIR/pairs.txt" --sample 200 --body-of "$BODY_PAIR" \
    >"$DIR/poll-before.json" || die "polls before the runs were not all 200 WAITING: $(cat "$DIR/poll-before.json")"
python3 -c 'import base64, json, sys; sys.stdout.buffer.write(base64.b64decode(json.load(open(sys.argv[1]))["body_b64"]))' \
    "$DIR/poll-before.json" >"$DIR/poll-body.json"
BODY=$(<"$DIR/poll-body.json")
BODY_BYTES=$(stat -c %s "$DIR/poll-body.json")
BODY_POSITION=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["position"])' "$DIR/poll-body.json")
note "a real poll answer ($BODY_BYTES bytes): $BODY"

log "starting nginx (2 workers) on 127.0.0.1:$NGINX_PORT with that body on $QUEUE_PATH"
bench_start_nginx GET "$QUEUE_PATH" 200 "$BODY" "$CONNECTIONS"
bench_nginx_same_body "$DIR/poll-body.json" "http://127.0.0.1:$NGINX_PORT$QUEUE_PATH"

# --- wrk ----------------------------------------------------------------------------------------------

REDIS_PID=$(redis_pid "$DIR/redis")
WRK_RUN=0
RUN_ROWS=()
declare -A NON2XX SOCKET
# CPU ticks used during the measured runs: the gateway's and Redis's during the gateway's runs, nginx's
# during its own.
GW_TICKS=0 REDIS_TICKS=0 GW_SECONDS=0 NGINX_TICKS=0 NGINX_SECONDS=0
measure() {
    local name=$1 port=$2 g0 r0 n0 t0
    note "$name, $CONNECTIONS connections, $DURATION"
    g0=$(cpu_ticks "$GATEWAY_PID") r0=$(cpu_ticks "$REDIS_PID") n0=$(session_ticks "$NGINX_PID") t0=$(date +%s.%N)
    WRK_RUN=$((WRK_RUN + 1))
    # bench/poll/poll.lua: every request another user's (bearer, queue token) pair.
    bench_wrk "$name" "$DIR/wrk-$name-$WRK_RUN.txt" $((DURATION_SECONDS + 60)) -t2 "-c$CONNECTIONS" "-d$DURATION" \
        --latency -s "$POLL_LUA" "http://127.0.0.1:$port" -- "$DIR/pairs.txt" "$QUEUE_PATH"
    if [ "$name" = gateway ]; then
        GW_TICKS=$((GW_TICKS + $(cpu_ticks "$GATEWAY_PID") - g0))
        REDIS_TICKS=$((REDIS_TICKS + $(cpu_ticks "$REDIS_PID") - r0))
        GW_SECONDS=$(awk -v a="$GW_SECONDS" -v t0="$t0" -v t1="$(date +%s.%N)" 'BEGIN { print a + t1 - t0 }')
    else
        NGINX_TICKS=$((NGINX_TICKS + $(session_ticks "$NGINX_PID") - n0))
        NGINX_SECONDS=$(awk -v a="$NGINX_SECONDS" -v t0="$t0" -v t1="$(date +%s.%N)" 'BEGIN { print a + t1 - t0 }')
    fi
    note "  $WRK_RPS req/s, p50 $WRK_P50 ms, p99 $WRK_P99 ms, non-2xx $WRK_NON2XX, socket errors $WRK_SOCKET"
    RUN_ROWS+=("| $WRK_RUN | $name | $WRK_REQUESTS | $WRK_RPS | $WRK_P50 ms | $WRK_P99 ms | $WRK_NON2XX | $WRK_SOCKET |")
    bench_add "$name"
    NON2XX[$name]=$((${NON2XX[$name]:-0} + WRK_NON2XX))
    SOCKET[$name]=$((${SOCKET[$name]:-0} + WRK_SOCKET))
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "wrk: $CONNECTIONS connections, $ROUNDS rounds of $DURATION each, gateway and nginx alternating"
# A short warm-up of both (not recorded).
run_bounded 60 "" wrk -t2 "-c$CONNECTIONS" -d2s -s "$POLL_LUA" "http://127.0.0.1:$GATEWAY_PORT" -- "$DIR/pairs.txt" "$QUEUE_PATH" >/dev/null 2>&1 || true
run_bounded 60 "" wrk -t2 "-c$CONNECTIONS" -d2s -s "$POLL_LUA" "http://127.0.0.1:$NGINX_PORT" -- "$DIR/pairs.txt" "$QUEUE_PATH" >/dev/null 2>&1 || true
for ((round = 1; round <= ROUNDS; round++)); do
    # Odd rounds start with the gateway, even rounds with nginx: neither always runs on a warmer machine.
    if ((round % 2 == 1)); then
        measure gateway "$GATEWAY_PORT"
        measure nginx "$NGINX_PORT"
    else
        measure nginx "$NGINX_PORT"
        measure gateway "$GATEWAY_PORT"
    fi
done
# CPU as % of one core, and CPU time per answered request (µs).
GW_CPU=$(cpu_pct "$GW_TICKS" "$GW_SECONDS")
REDIS_CPU=$(cpu_pct "$REDIS_TICKS" "$GW_SECONDS")
NGINX_CPU=$(cpu_pct "$NGINX_TICKS" "$NGINX_SECONDS")
GW_US=$(cpu_us "$GW_TICKS" "${REQUESTS[gateway]}")
REDIS_US=$(cpu_us "$REDIS_TICKS" "${REQUESTS[gateway]}")
NGINX_US=$(cpu_us "$NGINX_TICKS" "${REQUESTS[nginx]}")
note "CPU: gateway $GW_CPU% ($GW_US µs/poll), Redis $REDIS_CPU% ($REDIS_US µs/poll); nginx $NGINX_CPU% ($NGINX_US µs/request)"

# After the runs: still all waiting (no poll dropped anyone, nobody got EXPIRED).
WAITING_AFTER=$(rcli ZCARD "$WAIT_KEY")
POLL_AFTER_OK=yes
queue_py poll --port "$GATEWAY_PORT" --event "$EVENT" --pairs "$DIR/pairs.txt" --sample 200 >"$DIR/poll-after.json" ||
    POLL_AFTER_OK="**no**: $(cat "$DIR/poll-after.json")"
note "after the runs: ZCARD $WAITING_AFTER; 200 sampled polls all 200 WAITING: $POLL_AFTER_OK"
# Anything the gateway logged as a warning or an error while it served the polls.
GATEWAY_COMPLAINTS=$(complaints "$DIR/gateway.log")
bench_warn_complaints gateway
# The memory load runs lua/queue.lua as it is in the tree; the gateway loaded the copy built into it.
QUEUE_SHA=$(sha1sum "$FLOODGATE_ROOT/lua/queue.lua" | cut -d' ' -f1)
if [ "$(rcli SCRIPT EXISTS "$QUEUE_SHA" | head -n 1)" = 1 ]; then
    SAME_SCRIPT="yes (the gateway had already loaded this SHA)"
else
    SAME_SCRIPT="**no**: the binary embeds another version of lua/queue.lua than the working tree's (rebuild, or leave the tree alone while the bench runs)"
    warn "the gateway's lua/queue.lua differs from the working tree's"
fi
[ "$(rcli -x SCRIPT LOAD <"$FLOODGATE_ROOT/lua/queue.lua")" = "$QUEUE_SHA" ] || die "Redis computed another SHA for lua/queue.lua"

# --- Memory per waiting user --------------------------------------------------------------------------
log "memory: $MEMORY_USERS waiting users on a fresh event"
MEM_EVENT=$(queue_py create-event --port "$GATEWAY_PORT" --admin-key "$ADMIN_KEY" --name "Bench memory") ||
    die "could not create the memory event"
MEM_TAG="{ev:$MEM_EVENT}"
[ -n "$(rcli HGET "$MEM_TAG:queue:conf" secret)" ] || die "the event's settings are not in Redis after POST /admin/events"
# Neither the gateway (whose admission ticker would run on this queue too) nor nginx has a part here.
bench_stop NGINX_PID
bench_stop GATEWAY_PID
AOF_BEFORE=$(rcli CONFIG GET appendonly | tail -n 1)
FSYNC_BEFORE=$(rcli CONFIG GET appendfsync | tail -n 1)
MAXMEMORY=$(rcli CONFIG GET maxmemory | tail -n 1)
rcli CONFIG SET appendonly no >/dev/null
used_memory() { rcli INFO memory | awk -F: '/^used_memory:/ { print $2 + 0 }'; }
sleep 1
MEM_BEFORE=$(used_memory)
load_started=$(date +%s.%N)
# shellcheck disable=SC2016  # expanded by the inner bash
run_bounded 1200 "" bash -c 'set -o pipefail; python3 "$1" resp-enter --sha "$2" --event "$3" --count "$4" |
    redis-cli -h 127.0.0.1 -p "$5" --pipe' poll-load "$QUEUE_PY" "$QUEUE_SHA" "$MEM_EVENT" "$MEMORY_USERS" "$REDIS_PORT" \
    >"$DIR/load.out" 2>&1 || die "the load through redis-cli --pipe failed: $(tail -n 5 "$DIR/load.out")"
LOAD_SECONDS=$(awk -v a="$load_started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
grep -q "errors: 0, replies: $MEMORY_USERS" "$DIR/load.out" || die "the load had errors: $(tail -n 3 "$DIR/load.out")"
sleep 1
MEM_AFTER=$(used_memory)
MEM_WAITING=$(rcli ZCARD "$MEM_TAG:queue:wait")
MEM_SEQ=$(rcli HGET "$MEM_TAG:queue:state" seq)
MEM_WAIT_USAGE=$(rcli MEMORY USAGE "$MEM_TAG:queue:wait" SAMPLES 0)
MEM_WAIT_ENCODING=$(rcli OBJECT ENCODING "$MEM_TAG:queue:wait")
MEM_SEEN_USAGE=0 MEM_SEEN_KEYS=0
for i in 0 1 2 3 4 5; do
    usage=$(rcli MEMORY USAGE "$MEM_TAG:queue:seen:$i")
    if [ -n "$usage" ]; then
        MEM_SEEN_USAGE=$((MEM_SEEN_USAGE + usage))
        MEM_SEEN_KEYS=$((MEM_SEEN_KEYS + 1))
    fi
done
MEM_ALL_USAGE=0
while read -r key; do
    [ -n "$key" ] || continue
    MEM_ALL_USAGE=$((MEM_ALL_USAGE + $(rcli MEMORY USAGE "$key" SAMPLES 0 </dev/null)))
done < <(rcli --scan --pattern "{ev:$MEM_EVENT}*")
BYTES_PER_USER=$(awk -v a="$MEM_BEFORE" -v b="$MEM_AFTER" -v n="$MEM_WAITING" 'BEGIN { printf "%.1f", (n > 0) ? (b - a) / n : 0 }')
note "$MEM_WAITING waiting (seq $MEM_SEQ), loaded in ${LOAD_SECONDS}s; wait ZSET $MEM_WAIT_USAGE bytes ($MEM_WAIT_ENCODING), seen bitmaps $MEM_SEEN_USAGE bytes ($MEM_SEEN_KEYS keys); used_memory $MEM_BEFORE -> $MEM_AFTER: $BYTES_PER_USER bytes per waiting user"

# --- RESULTS.md ---------------------------------------------------------------------------------------
verdict() { if awk "BEGIN { exit !($1) }"; then echo "PASS"; else echo "**MISS**"; fi; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
per_user() { awk -v b="$1" -v n="$MEM_WAITING" 'BEGIN { printf "%.1f", (n > 0) ? b / n : 0 }'; }

bench_compare gateway nginx
G_BAD=$((NON2XX[gateway] + SOCKET[gateway]))
N_BAD=$((NON2XX[nginx] + SOCKET[nginx]))
# A run with errors or non-2xx answers does not pass, however fast it was.
clean() { if [ "$G_BAD" -eq 0 ] && [ "$WAITING_AFTER" -eq "$USERS" ] && [ "$POLL_AFTER_OK" = yes ]; then "$@"; else echo "**MISS** (the gateway's answers were not all 200 WAITING, see below)"; fi; }

section="$DIR/section.md"
MINUTES=$(bench_elapsed)
{
    echo "<!-- poll.sh begin -->"
    echo "## Waiting-queue polls: gateway vs nginx, and memory per waiting user (bench/poll.sh)"
    echo
    echo "$(bench_measured floodgate nginx wrk redis postgres) The whole bench took $MINUTES."
    echo
    echo "$USERS seeded users each took a place in one event's queue (POST /events/{id}/queue; maxActive 0, so all stay WAITING at positions 1..$USERS)."
    echo "wrk then polls GET /events/{id}/queue with \`bench/poll/poll.lua\`: every request carries another user's \`Authorization: Bearer\` and \`X-Queue-Token\`, cycling through all $USERS pairs;"
    echo "each poll is one Redis round trip (the session check and lua/queue.lua's \`poll\` pipelined), which verifies the token's MAC, reads the position (ZRANK) and marks the user seen."
    echo "Gateway: \`floodgate serve\`, FLOODGATE_THREADS=$THREADS, admission ticker every ${FLOODGATE_ADMISSION_INTERVAL_MS:-200} ms$([ -n "${FLOODGATE_ADMISSION_INTERVAL_MS:-}" ] || echo " (default)"), Redis with the shipped config/redis.conf (AOF, appendfsync always), PostgreSQL alongside (not on the poll path)."
    echo "nginx: 2 workers, \`access_log off\`, \`keepalive_requests 1000000\`, \`reuseport\`, the same requests, answered with a fixed \`application/json\` body: a real poll answer captured just before (line $((BODY_PAIR + 1)) of the $USERS pairs, position $BODY_POSITION), $BODY_BYTES bytes, byte for byte the same: \`$BODY\`."
    echo "Both on loopback; wrk, the servers and Redis share the machine's $(nproc) cores (load average before the runs: $LOAD_BEFORE)."
    echo "Each figure: the mean of $ROUNDS runs of $DURATION at $CONNECTIONS connections (p99: the worst run), gateway and nginx alternating, after a 2 s warm-up of each."
    echo
    echo "| connections | gateway polls/s | nginx req/s | gateway/nginx | gateway p50 | gateway p99 | nginx p50 | nginx p99 | non-2xx + socket errors (gw / nginx) |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    echo "| $CONNECTIONS | $G_RPS | $N_RPS | $RATIO | $G_P50 ms | $G_P99_WORST ms | $N_P50 ms | $N_P99_WORST ms | $G_BAD / $N_BAD |"
    echo
    echo "Targets (DESIGN.md, issue 5):"
    echo "- gateway/nginx ≥ $TARGET_RATIO at $CONNECTIONS connections: $RATIO — $(clean verdict "$RATIO >= $TARGET_RATIO")"
    echo "- gateway p99 ≤ $TARGET_P99_MS ms at $CONNECTIONS connections: $G_P99_WORST ms — $(clean verdict "$G_P99_WORST <= $TARGET_P99_MS")"
    echo "- every gateway answer 200: ${REQUESTS[gateway]} polls, ${NON2XX[gateway]} non-2xx, ${SOCKET[gateway]} socket errors — $([ "$G_BAD" -eq 0 ] && echo PASS || echo '**MISS**')"
    echo "- still waiting after the runs: ZCARD $WAITING_AFTER of $USERS; 200 sampled polls all 200 WAITING: $POLL_AFTER_OK"
    # shellcheck disable=SC2016  # backticks for Markdown, not a command
    echo "- warnings or errors in the gateway's log: $GATEWAY_COMPLAINTS$([ "$GATEWAY_COMPLAINTS" -eq 0 ] || printf ' (first: `%s`)' "$(first_complaint "$DIR/gateway.log")")"
    echo
    echo "CPU (% of one core, from /proc): during the gateway's runs the gateway used ${GW_CPU}% and Redis ${REDIS_CPU}%, that is $GW_US µs + $REDIS_US µs per poll;" \
        "during its own runs nginx used ${NGINX_CPU}%, $NGINX_US µs per request. wrk and the kernel's loopback take the rest of the $(nproc) cores."
    echo "Entering the $USERS users (POST, $ENTER_THREADS keep-alive clients) took ${ENTER_SECONDS} s."
    echo
    echo "| run | server | requests | req/s | p50 | p99 | non-2xx | socket errors |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${RUN_ROWS[@]}"
    echo
    echo "### Memory per waiting user ($MEMORY_USERS waiting)"
    echo
    echo "A fresh event, created through POST /admin/events (its settings, with maxActive 0, are in Redis); then the gateway is stopped, so that no admission ticker touches the queue while it is measured."
    echo "$MEMORY_USERS \`EVALSHA <sha1 of lua/queue.lua> 13 <the 13 queue keys> enter <eventId> usr_<24 hex>\` commands (the gateway's own script, keys and arguments; new random user ids) went through \`redis-cli --pipe\` in ${LOAD_SECONDS} s, every reply without error."
    echo "Script: lua/queue.lua of the working tree, SHA $QUEUE_SHA; the same as the gateway's: $SAME_SCRIPT."
    echo "For this load, AOF was switched off on this throw-away Redis (\`CONFIG SET appendonly no\`; it was appendonly $AOF_BEFORE, appendfsync $FSYNC_BEFORE, maxmemory $MAXMEMORY): persistence does not change what the keys cost in memory, only how long the load takes."
    echo "INFO used_memory was read before the load (after the $USERS-user event and everything else) and after it: the difference is what these waiting users cost, everything included."
    echo
    echo "| measurement | result |"
    echo "|---|---:|"
    echo "| ZCARD of the wait ZSET (\`$MEM_TAG:queue:wait\`) | $MEM_WAITING |"
    echo "| seq handed out (state \`seq\`) | $MEM_SEQ |"
    echo "| MEMORY USAGE of the wait ZSET (SAMPLES 0; encoding $MEM_WAIT_ENCODING) | $MEM_WAIT_USAGE bytes ($(mib "$MEM_WAIT_USAGE"), $(per_user "$MEM_WAIT_USAGE") B/user) |"
    echo "| MEMORY USAGE of the seen bitmaps ($MEM_SEEN_KEYS of 6 exist) | $MEM_SEEN_USAGE bytes ($(mib "$MEM_SEEN_USAGE"), $(per_user "$MEM_SEEN_USAGE") B/user) |"
    echo "| MEMORY USAGE of all the event's keys | $MEM_ALL_USAGE bytes ($(mib "$MEM_ALL_USAGE"), $(per_user "$MEM_ALL_USAGE") B/user) |"
    echo "| INFO used_memory before → after | $MEM_BEFORE → $MEM_AFTER bytes ($(mib $((MEM_AFTER - MEM_BEFORE)))) |"
    echo "| **bytes per waiting user** (used_memory delta / $MEM_WAITING) | **$BYTES_PER_USER** |"
    echo
    echo "- ≤ $TARGET_BYTES_PER_USER bytes per waiting user at $MEMORY_USERS waiting: $BYTES_PER_USER — $(if [ "$MEM_WAITING" -eq "$MEMORY_USERS" ]; then verdict "$BYTES_PER_USER <= $TARGET_BYTES_PER_USER"; else echo "**MISS** (ZCARD $MEM_WAITING, not $MEMORY_USERS)"; fi)"
    echo
    echo "### Knobs and commands"
    echo
    echo "BENCH_DURATION=$DURATION BENCH_CONNECTIONS=$CONNECTIONS BENCH_ROUNDS=$ROUNDS BENCH_USERS=$USERS BENCH_MEMORY_USERS=$MEMORY_USERS$([ "${BENCH_NO_BUILD:-0}" = 1 ] && echo " BENCH_NO_BUILD=1")"
    echo
    echo '```'
    echo "ulimit -n $NOFILE"
    echo "FLOODGATE_THREADS=$THREADS FLOODGATE_ADMIN_KEY=… FLOODGATE_PORT=$GATEWAY_PORT ${BIN#"$FLOODGATE_ROOT"/} serve   # gateway"
    echo "${BIN#"$FLOODGATE_ROOT"/} seed users --count $USERS --out \$DIR/users.csv --token-ttl-seconds 7200"
    echo "python3 bench/poll/queue.py enter --port $GATEWAY_PORT --event $EVENT --users \$DIR/users.csv --out \$DIR/pairs.txt --threads $ENTER_THREADS"
    echo "nginx -p \$DIR/nginx -c \$DIR/nginx/nginx.conf   # conf from bench/nginx.conf.template, location = $QUEUE_PATH"
    printf '%s\n' "${COMMANDS[@]//"$FLOODGATE_ROOT"\//}"
    echo "redis-cli CONFIG SET appendonly no"
    echo "python3 bench/poll/queue.py resp-enter --sha $QUEUE_SHA --event $MEM_EVENT --count $MEMORY_USERS | redis-cli -p $REDIS_PORT --pipe"
    echo '```'
    echo "<!-- poll.sh end -->"
} >"$section"

bench_publish poll.sh "$section" "| connections" "$MINUTES"
