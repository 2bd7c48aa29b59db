#!/usr/bin/env bash
# bench/flashsale.sh — the flash sale of issue 6 (DESIGN.md "What fast means"): BENCH_USERS (20,000) buyers
# with charged wallets race for BENCH_STOCK (1,000) units of one product at 1,000 connections, through
# the gateway, with nginx side by side in the same run for the ratio.
#
#   bench/flashsale.sh            (as root or a user who may sudo for the package install)
#
# Targets: exactly BENCH_STOCK orders PAID; ≥ 30,000 order attempts/s; p99 ≤ 20 ms; every paid order in
# PostgreSQL within 2 s of the last answer.
#
# 1. Installs what is missing (redis-server, postgresql, libhiredis-dev, libpq-dev, nginx-light, wrk,
#    python3, curl), builds the release binary, and starts on free loopback ports, under
#    .data/bench-flashsale-<pid>/: a Redis (the shipped config/redis.conf: AOF, appendfsync always), a
#    PostgreSQL with durable defaults (fsync, synchronous_commit on: the drain is measured), `floodgate
#    serve` (FLOODGATE_THREADS=2, an admin key of its own), `floodgate worker`, and an nginx
#    (bench/nginx.conf.template).
# 2. Seeds BENCH_USERS users (`floodgate seed users`) and charges every wallet with BENCH_CHARGE
#    (100,000) won through POST /wallet/charge (bench/flashsale/flashsale.py: keep-alive connections, a
#    few threads). Creates, through the admin API, one sale per round: an event (no queue) and its product
#    (BENCH_PRICE 10,000 won, stock BENCH_STOCK), plus a decoy product of stock 0 in the same event; waits
#    until the worker reads every sale's outbox.
# 3. nginx (2 workers) answers POST /orders with the gateway's own 409 OUT_OF_STOCK answer for a sold-out
#    product (the decoy's: the same bytes as the sale's product's once sold out, which each round checks),
#    status 409 too. Warm-up (BENCH_WARMUP, 2 s, not recorded) of both with the same wrk script: the
#    gateway against the decoy (every answer a 409). The sale's product is new to the gateway when its
#    race starts (its first order on each loop looks the product's event up in PostgreSQL, as in life).
# 4. BENCH_ROUNDS (2) rounds, gateway and nginx alternating. A gateway run is one race on a fresh sale:
#    wrk -t2 -c1000 -dBENCH_DURATION --latency, bench/flashsale/order.lua: every request a POST /orders
#    {"items":[{"productId":P,"quantity":1}]} (pay: true, the default) from the next buyer, cycling
#    through all of them until the run ends — after the stock is gone every attempt is a 409
#    OUT_OF_STOCK, and every attempt counts. wrk counts the non-2xx answers (so the 2xx ones: the 201s);
#    the gateway's /metrics (before and after) gives its answers by status and its own latency
#    histogram. A sampler reads the stock in Redis every 5 ms (when it hit 0, the lowest value seen).
#    Drain: from the end of wrk, psql every 50 ms until PostgreSQL holds BENCH_STOCK PAID orders of the
#    sale (bounded by BENCH_DRAIN_TIMEOUT, 30 s). Invariants of the sale: Redis (stock 0, never below 0;
#    orders by status; no unpaid holds; its payments by state, none left open) and PostgreSQL (orders,
#    order items, PAYMENT and REFUND rows); after the last round, the sum of all wallets.
#    An nginx run is the same wrk run against nginx.
# 5. Rewrites its own section of bench/RESULTS.md (between the flashsale.sh markers) and stops everything
#    it started, whatever happens. Exits 1 after writing the section when a correctness check failed.
#
# Knobs, for quick local runs (RESULTS.md records what was used): BENCH_DURATION (10s), BENCH_CONNECTIONS
# (1000), BENCH_ROUNDS (2), BENCH_USERS (20000), BENCH_STOCK (1000), BENCH_PRICE (10000), BENCH_CHARGE
# (100000; must pay BENCH_ROUNDS units: the first buyers in line win every round), BENCH_WARMUP (2s; 0
# skips it), BENCH_DRAIN_TIMEOUT (30, seconds), BENCH_WRK_STATUSES=1 (wrk also counts the answers by
# status, in order.lua's response(): a cross-check that costs wrk a good part of its request rate, so
# off by default), BENCH_NO_BUILD=1 (bench the binary already built, without rebuilding), BENCH_KEEP=1
# (keep the data folder for a look afterwards). FLOODGATE_SCRATCH as in scripts/test.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/../scripts/lib/bench.sh"   # and, through it, the other libraries
cd "$FLOODGATE_ROOT"

DURATION=${BENCH_DURATION:-10s}
CONNECTIONS=${BENCH_CONNECTIONS:-1000}
ROUNDS=${BENCH_ROUNDS:-2}
USERS=${BENCH_USERS:-20000}
STOCK=${BENCH_STOCK:-1000}
PRICE=${BENCH_PRICE:-10000}
CHARGE=${BENCH_CHARGE:-100000}
WARMUP=${BENCH_WARMUP:-2s}
DRAIN_TIMEOUT=${BENCH_DRAIN_TIMEOUT:-30}
WRK_STATUSES=${BENCH_WRK_STATUSES:-0}
THREADS=2
WRK_THREADS=2
CHARGE_THREADS=8

DURATION_SECONDS=$(seconds_of "$DURATION")
WARMUP_SECONDS=$(seconds_of "$WARMUP")
[ "$DURATION_SECONDS" -gt 0 ] || die "BENCH_DURATION=$DURATION: expected something like 10s"
for knob in CONNECTIONS ROUNDS USERS STOCK PRICE CHARGE DRAIN_TIMEOUT; do
    if ! [[ ${!knob} =~ ^[0-9]+$ ]] || [ "${!knob}" -eq 0 ]; then die "BENCH_$knob=${!knob}: expected a positive whole number"; fi
done
# The same buyers are first in line in every round (wrk starts each run at the same places).
[ "$CHARGE" -ge $((PRICE * ROUNDS)) ] || die "BENCH_CHARGE=$CHARGE cannot pay BENCH_ROUNDS=$ROUNDS × BENCH_PRICE=$PRICE: a buyer may win every round"
[ "$CHARGE" -le 10000000 ] || die "BENCH_CHARGE=$CHARGE: one charge is at most 10,000,000 won (API.md)"
case "$WRK_STATUSES" in 0 | 1) ;; *) die "BENCH_WRK_STATUSES=$WRK_STATUSES: expected 0 or 1" ;; esac
# Read by bench/flashsale/order.lua in every wrk run.
export FLASHSALE_WRK_STATUSES="$WRK_STATUSES"
[ "$CONNECTIONS" -ge "$WRK_THREADS" ] || die "BENCH_CONNECTIONS=$CONNECTIONS: wrk needs at least one connection per thread ($WRK_THREADS)"

# Targets from DESIGN.md ("What fast means") and issue 6.
TARGET_RPS=30000
TARGET_P99_MS=20
TARGET_DRAIN_SECONDS=2

DIR="$FLOODGATE_ROOT/.data/bench-flashsale-$$"
HELPER="$FLOODGATE_ROOT/bench/flashsale/flashsale.py"
ORDER_LUA="$FLOODGATE_ROOT/bench/flashsale/order.lua"

# What the teardown stops, in this order, if it was started; the logs it shows when the bench fails.
bench_stop_at_exit SAMPLER_PID "stock sampler" 5
bench_stop_at_exit GATEWAY_PID "floodgate serve" 10
bench_stop_at_exit WORKER_PID "floodgate worker" 20
bench_stop_at_exit NGINX_PID "nginx" 10
bench_show_on_failure gateway 20
bench_show_on_failure worker 20
BENCH_KEEPABLE=1   # BENCH_KEEP=1 keeps DIR
bench_traps

# --- Set-up -------------------------------------------------------------------------------------------
bench_setup redis-server postgresql libhiredis-dev libpq-dev nginx-light wrk python3 curl
bench_raise_nofile $((CONNECTIONS * 2 + 1000)) "$CONNECTIONS connections may not all open"

mkdir -p "$DIR"
bench_pick_ports REDIS_PORT PG_PORT GATEWAY_PORT WORKER_PORT NGINX_PORT
bench_start_stores run
bench_build
bench_admin_key
bench_configure

helper() { python3 "$HELPER" "$@"; }
# json_field JSON PATH: a (dotted) field of a JSON object; "?" when absent.
json_field() {
    python3 -c '
import json, sys
v = json.loads(sys.argv[1])
for k in sys.argv[2].split("."):
    v = v[k] if isinstance(v, dict) and k in v else "?"
print(", ".join("%s: %s" % kv for kv in sorted(v.items())) or "none" if isinstance(v, dict) else v)' "$1" "$2"
}

log "starting floodgate serve (FLOODGATE_THREADS=$THREADS) on 127.0.0.1:$GATEWAY_PORT and floodgate worker (metrics on $WORKER_PORT)"
bench_start_gateway /health
bench_start_worker

# --- Buyers, wallets, the sales -----------------------------------------------------------------------
bench_seed_users "$USERS"

log "charging every wallet with $CHARGE won (POST /wallet/charge, $CHARGE_THREADS keep-alive clients)"
run_bounded 600 "" python3 "$HELPER" charge --port "$GATEWAY_PORT" --users "$DIR/users.csv" --amount "$CHARGE" \
    --threads "$CHARGE_THREADS" --deadline 540 >"$DIR/charge.json" ||
    die "not every wallet was charged: $(cat "$DIR/charge.json")"
CHARGE_SECONDS=$(json_field "$(cat "$DIR/charge.json")" seconds)
note "$(json_field "$(cat "$DIR/charge.json")" charged) wallets charged in ${CHARGE_SECONDS}s"

# One sale per round, all created now: the worker picks each event's outbox up from the registry (re-read
# once a second), and no race may start before it reads that stream, or the drain would include the wait.
log "creating $ROUNDS sales of $STOCK units at $PRICE won"
declare -a EVENTS PRODUCTS DECOYS
for ((r = 1; r <= ROUNDS; r++)); do
    read -r "EVENTS[r]" "PRODUCTS[r]" "DECOYS[r]" < <(helper create-sale --port "$GATEWAY_PORT" --admin-key "$ADMIN_KEY" \
        --name "Bench flash sale $r" --price "$PRICE" --stock "$STOCK" --decoy-stock 0) || die "could not create sale $r"
    [ -n "${DECOYS[r]:-}" ] || die "could not create sale $r"
    stock=$(rcli HGET "{ev:${EVENTS[r]}}:product:${PRODUCTS[r]}" stock)
    [ "$stock" = "$STOCK" ] || die "product ${PRODUCTS[r]} holds stock '$stock' in Redis, not $STOCK"
    note "round $r: event ${EVENTS[r]} (no queue), product ${PRODUCTS[r]}, decoy ${DECOYS[r]} (stock 0)"
done
DECOY=${DECOYS[1]}
worker_reads_all() {
    local r
    for ((r = 1; r <= ROUNDS; r++)); do rcli XINFO GROUPS "{ev:${EVENTS[r]}}:outbox" 2>/dev/null | grep -qx writer || return 1; done
}
wait_for 30 "the worker to read every sale's outbox" worker_reads_all || die "the worker does not read the sales' outboxes"

# --- nginx --------------------------------------------------------------------------------------------
# probe_order PRODUCT FILE: one POST /orders of PRODUCT by the first buyer; the body in FILE, the status out.
probe_order() {
    curl -s --max-time 5 -o "$2" -w '%{http_code}' -X POST "http://127.0.0.1:$GATEWAY_PORT/orders" \
        -H "Authorization: Bearer $(head -n 1 "$DIR/users.csv" | cut -d, -f2)" -H 'Content-Type: application/json' \
        --data "{\"items\":[{\"productId\":\"$1\",\"quantity\":1}]}"
}
PROBE_STATUS=$(probe_order "$DECOY" "$DIR/409-body.json")
BODY=$(<"$DIR/409-body.json")
BODY_BYTES=$(stat -c %s "$DIR/409-body.json")
[ "$PROBE_STATUS" = 409 ] || die "an order of the sold-out decoy answered $PROBE_STATUS, not 409: $BODY"
note "the gateway's 409 for a sold-out product ($BODY_BYTES bytes): $BODY"

log "starting nginx (2 workers) on 127.0.0.1:$NGINX_PORT answering POST /orders with that 409"
bench_start_nginx POST /orders 409 "$BODY" "$CONNECTIONS"
bench_nginx_same_body "$DIR/409-body.json" -X POST "http://127.0.0.1:$NGINX_PORT/orders" --data '{}'

# --- wrk ----------------------------------------------------------------------------------------------

# The tables show milliseconds with two decimals.
# shellcheck disable=SC2034  # read by to_ms (scripts/lib/bench_measure.sh)
BENCH_MS_DECIMALS=2
REDIS_PID=$(redis_pid "$DIR/redis")
PG_POSTMASTER=$(head -n 1 "$DIR/pg/postmaster.pid" 2>/dev/null || echo 0)
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { print b - a }'; }

# This machine may be shared: what else used the CPU while a run was measured. cpu_snapshot writes
# `pid ticks name` for every user process that is not ours (the bench and its sessions, Redis, PostgreSQL);
# others_cpu BEFORE AFTER SECONDS sums what the processes present in both used in between, as % of one
# core, with the three biggest ("42% (swift-frontend 30%, …)"). Processes that came and went in between
# are not seen.
cpu_snapshot() {
    # Kernel threads (children of kthreadd, pid 2) work for everybody, the bench's loopback traffic included.
    local file stat name fields ours=" 2 $$ $REDIS_PID $PG_POSTMASTER "
    for file in /proc/[0-9]*/stat; do
        { read -r stat <"$file"; } 2>/dev/null || continue
        name=${stat#*(} name=${name%)*}
        read -r -a fields <<<"${stat##*) }"
        # After the name: state ppid pgrp session ... utime (index 11) stime (12).
        case " $GATEWAY_PID $WORKER_PID $SAMPLER_PID $NGINX_PID " in *" ${fields[3]} "*) continue ;; esac
        case "$ours" in *" ${file//[^0-9]/} "* | *" ${fields[1]} "*) continue ;; esac
        printf '%s %s %s\n' "${file//[^0-9]/}" $((fields[11] + fields[12])) "${name// /_}"
    done
}
others_cpu() {
    awk -v hz="$HZ" -v s="$3" 'NR == FNR { before[$1] = $2; next }
        ($1 in before) && $2 > before[$1] { d = ($2 - before[$1]) / hz / s * 100; total += d; by[$3] += d }
        END {
            printf "%.0f%%", total
            for (k = 0; k < 3; k++) { best = ""; for (n in by) if (best == "" || by[n] > by[best]) best = n
                if (best == "" || by[best] < 1) break
                printf "%s%s %.0f%%", (k == 0 ? " (" : ", "), best, by[best]; delete by[best]; shown = 1 }
            if (shown) printf ")" }' "$1" "$2"
}
# steal_ticks: CPU time the hypervisor gave to someone else (/proc/stat), all cores.
steal_ticks() { awk '$1 == "cpu" { print $9 + 0 }' /proc/stat; }

# order_answers: the gateway's answers to POST /orders so far, by status (`status count` lines), from its
# /metrics (floodgate_http_requests_total, all loops).
order_answers() {
    curl -fs --max-time 5 "http://127.0.0.1:$GATEWAY_PORT/metrics" | awk '
        /^floodgate_http_requests_total\{/ && /method="POST"/ && /route="\/orders"/ {
            if (match($0, /status="[0-9]+"/)) print substr($0, RSTART + 8, RLENGTH - 9), $NF }'
}
# latency_buckets: the gateway's cumulative latency histogram (`le count` lines, le in seconds), all routes.
latency_buckets() {
    curl -fs --max-time 5 "http://127.0.0.1:$GATEWAY_PORT/metrics" | awk '
        /^floodgate_http_request_duration_seconds_bucket\{/ {
            if (match($0, /le="[^"]+"/)) print substr($0, RSTART + 4, RLENGTH - 5), $NF }'
}
# server_latency BEFORE AFTER: the percentiles of the gateway's own time (parsed request → response)
# between the two histograms, as the bucket bounds they fall in, and the share answered within 10 ms.
server_latency() {
    awk 'NR == FNR { before[$1] = $2; next }
         { n++; le[n] = $1; c[n] = $2 - before[$1] }
         function bound(q,   i) {
             for (i = 1; i <= n; i++) if (c[i] >= q * c[n]) return (le[i] == "+Inf") ? "> " le[i - 1] * 1000 " ms" : "≤ " le[i] * 1000 " ms"
             return "n/a" }
         END {
             if (n == 0 || c[n] == 0) { print "n/a"; exit }
             within = 0; for (i = 1; i <= n; i++) if (le[i] == "0.01") within = c[i]
             printf "p50 %s, p99 %s, max %s; %.1f%% within 10 ms", bound(0.5), bound(0.99), bound(1), within * 100 / c[n] }' "$1" "$2"
}
# answers_delta BEFORE AFTER: "201: 1000, 409: 316991" — what the gateway answered between the two.
answers_delta() {
    awk 'NR == FNR { before[$1] = $2; next } { n = $2 - before[$1]; if (n > 0) { printf "%s%s: %d", sep, $1, n; sep = ", " } }
         END { if (sep == "") printf "none" }' "$1" "$2"
}
# answers_count BEFORE AFTER STATUS: how many STATUS answers; "other" counts all but 201 and 409.
answers_count() {
    awk -v want="$3" 'NR == FNR { before[$1] = $2; next }
        (want == "other" && $1 != "201" && $1 != "409") || $1 == want { n += $2 - before[$1] } END { print n + 0 }' "$1" "$2"
}

# run_wrk NAME PORT PRODUCT: one wrk run with bench/flashsale/order.lua (every request an order of PRODUCT
# by the next buyer), its output in DIR/wrk-NAME.txt; the figures as bench_wrk sets them, and with
# BENCH_WRK_STATUSES=1 the answers by status in WRK_STATUS_TEXT.
run_wrk() {
    bench_wrk "$1" "$DIR/wrk-$1.txt" $((DURATION_SECONDS + 60)) "-t$WRK_THREADS" "-c$CONNECTIONS" "-d$DURATION" --latency \
        -s "$ORDER_LUA" "http://127.0.0.1:$2" -- "$DIR/users.csv" "$3" "$WRK_THREADS"
}

# Per run (rows of the runs table) and per round (the races).
RUN=0
RUN_ROWS=()
declare -A BAD TICKS SECS
declare -a G_RPS_R G_2XX G_P99 M_201 M_OTHER M_TEXT SERVER_LATENCY G_STATUS_TEXT
declare -a DRAIN_SECONDS DRAIN_TEXT STOCK_FIRST_MS STOCK_ZERO_MS STOCK_MIN STOCK_CHANGES
declare -a FIRST_PLACED_MS LAST_PLACED_MS LAST_PAID_MS LAG_P50_MS LAG_P99_MS LAG_MAX_MS
declare -a R_STOCK R_ORDERS R_BY_STATUS R_PAID R_UNITS R_PAID_TOTAL R_BUYERS R_MAX_PER_BUYER R_HOLDS R_OPEN R_PAYMENTS R_DEBITED
declare -a P_BY_STATUS P_PAID P_PAID_TOTAL P_UNITS P_PAYMENT_ROWS P_PAYMENT_SUM P_REFUNDS PROBE_AFTER
REDIS_TICKS=0 WORKER_TICKS=0
EXPECTED_TOTAL=$((STOCK * PRICE))

# record_run NAME SECONDS_MEASURED OTHERS STEAL BAD_ANSWERS: a row of the runs table and the sums behind
# the means (BAD_ANSWERS: answers that should not be, besides wrk's socket errors).
record_run() {
    local name=$1 others=$3 steal=$4 bad=$((WRK_SOCKET + $5))
    RUN=$((RUN + 1))
    RUN_ROWS+=("| $RUN | $name | $WRK_REQUESTS | $WRK_RPS | $WRK_P50 ms | $WRK_P90 ms | $WRK_P99 ms | $WRK_MAX ms | $WRK_2XX | $WRK_NON2XX | $WRK_SOCKET | $others; steal $steal |")
    bench_add "$name"
    BAD[$name]=$((${BAD[$name]:-0} + bad))
    SECS[$name]=$(awk -v a="${SECS[$name]:-0}" -v b="$2" 'BEGIN { print a + b }')
}

# race R: round R's sale through the gateway, its drain and its invariants.
race() {
    local r=$1 event=${EVENTS[$1]} product=${PRODUCTS[$1]} g0 r0 w0 s0 t0 window
    local stock_key="{ev:$event}:product:$product"
    log "round $r, the race: $USERS buyers, $STOCK units, $CONNECTIONS connections, $DURATION"
    start_in_own_group python3 "$HELPER" sample-stock --redis-port "$REDIS_PORT" --key "$stock_key" \
        --seconds $((DURATION_SECONDS + DRAIN_TIMEOUT + 30)) --interval-ms 5 --out "$DIR/stock-$r.txt"
    SAMPLER_PID=$STARTED_PID
    wait_for 10 "the stock sampler" test -s "$DIR/stock-$r.txt" || die "the stock sampler did not start"
    order_answers >"$DIR/answers-$r-before.txt" || die "could not read the gateway's /metrics"
    latency_buckets >"$DIR/latency-$r-before.txt" || die "could not read the gateway's /metrics"
    cpu_snapshot >"$DIR/cpu-gateway-$r-before.txt"
    s0=$(steal_ticks) g0=$(cpu_ticks "$GATEWAY_PID") r0=$(cpu_ticks "$REDIS_PID") w0=$(cpu_ticks "$WORKER_PID")
    t0=$(now)
    run_wrk "gateway-$r" "$GATEWAY_PORT" "$product"

    # Drain: the time from the end of wrk until PostgreSQL holds every unit's PAID order.
    local checks=0 paid=0 at deadline=$((SECONDS + DRAIN_TIMEOUT))
    while :; do
        paid=$(psql_q "SELECT count(*) FROM orders WHERE event_id = '$event' AND status = 'PAID'" 2>/dev/null || echo 0)
        at=$(now)
        checks=$((checks + 1))
        [ "$paid" -ge "$STOCK" ] && break
        [ "$SECONDS" -lt "$deadline" ] || break
        sleep 0.05
    done
    window=$(since "$t0")
    TICKS[gateway]=$((${TICKS[gateway]:-0} + $(cpu_ticks "$GATEWAY_PID") - g0))
    REDIS_TICKS=$((REDIS_TICKS + $(cpu_ticks "$REDIS_PID") - r0))
    WORKER_TICKS=$((WORKER_TICKS + $(cpu_ticks "$WORKER_PID") - w0))
    local steal others
    steal="$(cpu_pct $(($(steal_ticks) - s0)) "$window")%"
    cpu_snapshot >"$DIR/cpu-gateway-$r-after.txt"
    others=$(others_cpu "$DIR/cpu-gateway-$r-before.txt" "$DIR/cpu-gateway-$r-after.txt" "$window")
    stop_session "$SAMPLER_PID" "stock sampler" 5
    SAMPLER_PID=""
    order_answers >"$DIR/answers-$r-after.txt" || die "could not read the gateway's /metrics"
    latency_buckets >"$DIR/latency-$r-after.txt" || die "could not read the gateway's /metrics"
    if [ "$paid" -ge "$STOCK" ]; then
        DRAIN_SECONDS[r]=$(awk -v a="$WRK_END" -v b="$at" 'BEGIN { printf "%.3f", b - a }')
        DRAIN_TEXT[r]="${DRAIN_SECONDS[r]} s ($checks psql checks)"
    else
        DRAIN_SECONDS[r]=""
        DRAIN_TEXT[r]="**not within $DRAIN_TIMEOUT s**: $paid of $STOCK PAID orders after $checks checks"
    fi

    # The gateway's own count also holds the answers to the requests in flight when wrk stopped (at most
    # one per connection), which wrk no longer reads.
    local before="$DIR/answers-$r-before.txt" after="$DIR/answers-$r-after.txt"
    # shellcheck disable=SC2034  # G_RPS_R and G_P99 are read through rounds()
    G_RPS_R[r]=$WRK_RPS G_2XX[r]=$WRK_2XX G_P99[r]=$WRK_P99 G_STATUS_TEXT[r]=$WRK_STATUS_TEXT
    M_TEXT[r]=$(answers_delta "$before" "$after")
    M_201[r]=$(answers_count "$before" "$after" 201)
    M_OTHER[r]=$(answers_count "$before" "$after" other)
    SERVER_LATENCY[r]=$(server_latency "$DIR/latency-$r-before.txt" "$DIR/latency-$r-after.txt")
    record_run gateway "$(awk -v a="$t0" -v b="$WRK_END" 'BEGIN { print b - a }')" "$others" "$steal" "${M_OTHER[r]}"
    note "$WRK_RPS attempts/s, p50 $WRK_P50 ms, p99 $WRK_P99 ms (max $WRK_MAX ms); wrk: $WRK_REQUESTS answers, $WRK_2XX 2xx, $WRK_NON2XX non-2xx, socket errors $WRK_SOCKET${WRK_STATUS_TEXT:+ ($WRK_STATUS_TEXT)}"
    note "the gateway's /metrics for POST /orders: ${M_TEXT[r]}; its own time per answer: ${SERVER_LATENCY[r]}"
    note "PostgreSQL: all $STOCK PAID orders ${DRAIN_TEXT[r]} after the end of wrk"
    note "CPU of processes the bench did not start: $others; steal $steal"

    # The race as the stock sampler saw it (5 ms resolution): the first unit taken, the stock at 0, the
    # lowest value.
    read -r "STOCK_FIRST_MS[r]" "STOCK_ZERO_MS[r]" "STOCK_MIN[r]" "STOCK_CHANGES[r]" < <(awk -v t0="$t0" -v full="$STOCK" '
        $2 != "nil" { n++; v = $2 + 0
            if (first == "" && v < full) first = ($1 - t0) * 1000
            if (zero == "" && v <= 0) zero = ($1 - t0) * 1000
            if (min == "" || v < min) min = v }
        END { printf "%s %s %s %d\n", (first == "" ? "n/a" : sprintf("%.0f", first)), (zero == "" ? "n/a" : sprintf("%.0f", zero)),
                     (min == "" ? "n/a" : min), n }' "$DIR/stock-$r.txt")

    # Invariants in Redis.
    local rc
    helper redis-check --redis-port "$REDIS_PORT" --event "$event" --product "$product" >"$DIR/redis-check-$r.json" ||
        die "the Redis check failed"
    rc=$(cat "$DIR/redis-check-$r.json")
    R_STOCK[r]=$(json_field "$rc" stock)
    R_ORDERS[r]=$(json_field "$rc" orders)
    R_BY_STATUS[r]=$(json_field "$rc" orders_by_status)
    R_PAID[r]=$(json_field "$rc" orders_by_status.PAID)
    [ "${R_PAID[r]}" = "?" ] && R_PAID[r]=0
    R_UNITS[r]=$(json_field "$rc" paid_units_of_product)
    R_PAID_TOTAL[r]=$(json_field "$rc" paid_total)
    R_BUYERS[r]=$(json_field "$rc" paid_buyers)
    R_MAX_PER_BUYER[r]=$(json_field "$rc" max_orders_per_buyer)
    R_HOLDS[r]=$(json_field "$rc" holds)
    R_OPEN[r]=$(json_field "$rc" open_payments)
    R_PAYMENTS[r]=$(json_field "$rc" payments_by_state)
    R_DEBITED[r]=$(json_field "$rc" debited_sum)

    # PostgreSQL: the wallet side arrives through the users' shard streams; wait for it too (bounded),
    # then a moment more: nothing further should arrive (an oversell would show here).
    local in_event="ref IN (SELECT id FROM orders WHERE event_id = '$event')"
    payments_arrived() { [ "$(psql_q "SELECT count(*) FROM wallet_transactions WHERE type = 'PAYMENT' AND $in_event")" -ge "$1" ]; }
    wait_for "$DRAIN_TIMEOUT" "PostgreSQL to hold ${R_PAID[r]} PAYMENT rows" payments_arrived "${R_PAID[r]}" || true
    sleep 1
    P_BY_STATUS[r]=$(psql_q "SELECT coalesce(string_agg(status || ': ' || n, ', ' ORDER BY status), 'none') FROM (SELECT status, count(*) AS n FROM orders WHERE event_id = '$event' GROUP BY status) s")
    P_PAID[r]=$(psql_q "SELECT count(*) FROM orders WHERE event_id = '$event' AND status = 'PAID'")
    P_PAID_TOTAL[r]=$(psql_q "SELECT coalesce(sum(paid_amount), 0) FROM orders WHERE event_id = '$event' AND status = 'PAID'")
    P_UNITS[r]=$(psql_q "SELECT coalesce(sum(i.quantity), 0) FROM order_items i JOIN orders o ON o.id = i.order_id WHERE i.product_id = '$product' AND o.status = 'PAID'")
    read -r "P_PAYMENT_ROWS[r]" "P_PAYMENT_SUM[r]" < <(psql_q "SELECT count(*), coalesce(sum(amount), 0) FROM wallet_transactions WHERE type = 'PAYMENT' AND $in_event" | tr '|' ' ')
    P_REFUNDS[r]=$(psql_q "SELECT count(*) FROM wallet_transactions WHERE type = 'REFUND' AND $in_event")
    # The race in Redis's clock (orders carry createdAt and paidAt from Redis TIME), from wrk's start; and
    # how far PostgreSQL trailed Redis for each paid order (updated_at: the worker's transaction time).
    read -r "FIRST_PLACED_MS[r]" "LAST_PLACED_MS[r]" "LAST_PAID_MS[r]" "LAG_P50_MS[r]" "LAG_P99_MS[r]" "LAG_MAX_MS[r]" < <(psql_q "
        SELECT round((extract(epoch FROM min(created_at)) - $t0) * 1000), round((extract(epoch FROM max(created_at)) - $t0) * 1000),
               round((extract(epoch FROM max(paid_at)) - $t0) * 1000),
               round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM updated_at - paid_at)) * 1000)::numeric),
               round((percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM updated_at - paid_at)) * 1000)::numeric),
               round(max(extract(epoch FROM updated_at - paid_at)) * 1000)
        FROM orders WHERE event_id = '$event' AND status = 'PAID'" | tr '|' ' ')
    # The sold-out product answers exactly what nginx serves but for its id (same length).
    local status body
    status=$(probe_order "$product" "$DIR/409-body-$r.json")
    body=$(<"$DIR/409-body-$r.json")
    if [ "$status" = 409 ] && [ "$(stat -c %s "$DIR/409-body-$r.json")" = "$BODY_BYTES" ] && [ "${body//$product/$DECOY}" = "$BODY" ]; then
        PROBE_AFTER[r]=yes
    else
        PROBE_AFTER[r]="**no**: $status $body"
    fi
    note "Redis: stock ${R_STOCK[r]} (lowest seen ${STOCK_MIN[r]}), orders ${R_BY_STATUS[r]}, holds ${R_HOLDS[r]}, payments ${R_PAYMENTS[r]} (open ${R_OPEN[r]}), debited ${R_DEBITED[r]}"
    note "PostgreSQL: orders ${P_BY_STATUS[r]}, units ${P_UNITS[r]}, PAYMENT rows ${P_PAYMENT_ROWS[r]} summing ${P_PAYMENT_SUM[r]}, REFUND rows ${P_REFUNDS[r]}"
    note "race: ${STOCK_CHANGES[r]} stock values sampled; first unit taken +${STOCK_FIRST_MS[r]} ms, stock 0 at +${STOCK_ZERO_MS[r]} ms, last paid +${LAST_PAID_MS[r]} ms; PostgreSQL behind Redis per paid order p50 ${LAG_P50_MS[r]} ms, max ${LAG_MAX_MS[r]} ms"
}

# nginx_run R: the same wrk run against nginx.
nginx_run() {
    local r=$1 n0 s0 t0 steal others
    log "round $r, nginx: $CONNECTIONS connections, $DURATION"
    cpu_snapshot >"$DIR/cpu-nginx-$r-before.txt"
    s0=$(steal_ticks) n0=$(session_ticks "$NGINX_PID") t0=$(now)
    run_wrk "nginx-$r" "$NGINX_PORT" "${PRODUCTS[r]}"
    TICKS[nginx]=$((${TICKS[nginx]:-0} + $(session_ticks "$NGINX_PID") - n0))
    steal="$(cpu_pct $(($(steal_ticks) - s0)) "$(since "$t0")")%"
    cpu_snapshot >"$DIR/cpu-nginx-$r-after.txt"
    others=$(others_cpu "$DIR/cpu-nginx-$r-before.txt" "$DIR/cpu-nginx-$r-after.txt" "$(since "$t0")")
    # nginx answers every request with a 409: anything else wrk read (2xx) counts as bad.
    record_run nginx "$(awk -v a="$t0" -v b="$WRK_END" 'BEGIN { print b - a }')" "$others" "$steal" "$WRK_2XX"
    note "$WRK_RPS req/s, p50 $WRK_P50 ms, p99 $WRK_P99 ms; $WRK_REQUESTS answers, $WRK_NON2XX non-2xx, socket errors $WRK_SOCKET${WRK_STATUS_TEXT:+ ($WRK_STATUS_TEXT)}; others $others, steal $steal"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
if [ "$WARMUP_SECONDS" -gt 0 ]; then
    log "warm-up: $WARMUP of each (the gateway against the sold-out decoy; not recorded)"
    run_bounded $((WARMUP_SECONDS + 60)) "" wrk "-t$WRK_THREADS" "-c$CONNECTIONS" "-d$WARMUP" -s "$ORDER_LUA" \
        "http://127.0.0.1:$GATEWAY_PORT" -- "$DIR/users.csv" "$DECOY" "$WRK_THREADS" >"$DIR/wrk-warmup.txt" 2>&1 ||
        die "the warm-up failed: $(cat "$DIR/wrk-warmup.txt")"
    WARMUP_TEXT=$(awk '/requests in/ { n = $1 } /Non-2xx or 3xx responses:/ { bad = $5 } END { printf "%d answers, %d non-2xx", n, bad }' "$DIR/wrk-warmup.txt")
    note "gateway warm-up: $WARMUP_TEXT"
    run_bounded $((WARMUP_SECONDS + 60)) "" wrk "-t$WRK_THREADS" "-c$CONNECTIONS" "-d$WARMUP" -s "$ORDER_LUA" \
        "http://127.0.0.1:$NGINX_PORT" -- "$DIR/users.csv" "$DECOY" "$WRK_THREADS" >/dev/null 2>&1 || true
    sleep 1
fi
for ((r = 1; r <= ROUNDS; r++)); do
    # Odd rounds start with the gateway, even rounds with nginx: neither always runs on a warmer machine.
    if ((r % 2 == 1)); then
        race "$r"
        nginx_run "$r"
    else
        nginx_run "$r"
        race "$r"
    fi
done

# After the last round: every wallet, and what the gateway and the worker said.
helper wallets --redis-port "$REDIS_PORT" --users "$DIR/users.csv" >"$DIR/wallets.json" || die "the wallet check failed"
WALLETS=$(cat "$DIR/wallets.json")
W_SUM=$(json_field "$WALLETS" sum) W_MIN=$(json_field "$WALLETS" min) W_MAX=$(json_field "$WALLETS" max)
EXPECTED_BALANCES=$((USERS * CHARGE - ROUNDS * STOCK * PRICE))
note "wallets: sum $W_SUM (expected $EXPECTED_BALANCES), lowest $W_MIN, highest $W_MAX"
GATEWAY_COMPLAINTS=$(complaints "$DIR/gateway.log")
WORKER_COMPLAINTS=$(complaints "$DIR/worker.log")
bench_warn_complaints gateway
bench_warn_complaints worker
DEAD_LETTERS=$(curl -fs --max-time 2 "http://127.0.0.1:$WORKER_PORT/metrics" | awk '$1 == "floodgate_outbox_dead_letters_total" { print $2 }' || true)

# --- Verdicts -----------------------------------------------------------------------------------------
verdict() { if awk "BEGIN { exit !($1) }"; then echo "PASS"; else echo "**MISS**"; fi; }
is_number() { [[ $1 =~ ^-?[0-9]+$ ]]; }
bench_compare gateway nginx
G_BAD=${BAD[gateway]} N_BAD=${BAD[nginx]}
GW_CPU=$(cpu_pct "${TICKS[gateway]}" "${SECS[gateway]}") GW_US=$(cpu_us "${TICKS[gateway]}" "${REQUESTS[gateway]}")
REDIS_CPU=$(cpu_pct "$REDIS_TICKS" "${SECS[gateway]}") REDIS_US=$(cpu_us "$REDIS_TICKS" "${REQUESTS[gateway]}")
WORKER_CPU=$(cpu_pct "$WORKER_TICKS" "${SECS[gateway]}")
NGINX_CPU=$(cpu_pct "${TICKS[nginx]}" "${SECS[nginx]}") NGINX_US=$(cpu_us "${TICKS[nginx]}" "${REQUESTS[nginx]}")

# Correctness: in every round every count of sold units agrees and equals the stock; nothing oversold or
# left open.
CORRECT=yes
WHY=()
check() { if ! awk "BEGIN { exit !($1) }"; then CORRECT=no; WHY+=("$2"); fi; }
DRAIN_WORST=0 DRAIN_ALL=yes PAID_LIST="" R_PAID_LIST="" P_PAID_LIST="" STOCK_LIST="" DEBITED_LIST=""
for ((r = 1; r <= ROUNDS; r++)); do
    is_number "${R_STOCK[r]}" || R_STOCK[r]=-999999
    is_number "${STOCK_MIN[r]}" || STOCK_MIN[r]=-999999
    check "${G_2XX[r]} == $STOCK" "round $r: wrk counted ${G_2XX[r]} 2xx answers, not $STOCK"
    check "${M_201[r]} == $STOCK" "round $r: the gateway's /metrics counts ${M_201[r]} answers 201, not $STOCK"
    check "${M_OTHER[r]} == 0" "round $r: the gateway answered something other than 201 or 409: ${M_TEXT[r]}"
    check "${R_PAID[r]} == $STOCK" "round $r: Redis holds ${R_PAID[r]} PAID orders, not $STOCK"
    check "${R_ORDERS[r]} == ${R_PAID[r]}" "round $r: Redis holds orders that are not PAID: ${R_BY_STATUS[r]}"
    check "${R_UNITS[r]} == $STOCK" "round $r: the PAID orders in Redis take ${R_UNITS[r]} units, not $STOCK"
    check "${P_PAID[r]} == $STOCK" "round $r: PostgreSQL holds ${P_PAID[r]} PAID orders, not $STOCK"
    check "${P_UNITS[r]} == $STOCK" "round $r: PostgreSQL's order items of PAID orders add up to ${P_UNITS[r]} units, not $STOCK"
    check "${R_STOCK[r]} == 0" "round $r: the stock left in Redis is ${R_STOCK[r]}, not 0"
    check "${STOCK_MIN[r]} >= 0" "round $r: the sampler saw the stock at ${STOCK_MIN[r]}"
    check "${R_HOLDS[r]} == 0" "round $r: ${R_HOLDS[r]} orders still hold stock unpaid"
    check "${R_OPEN[r]} == 0" "round $r: ${R_OPEN[r]} payments are still open (debited, not settled)"
    check "${R_DEBITED[r]} == $EXPECTED_TOTAL" "round $r: the payments in Redis take ${R_DEBITED[r]} won, not $EXPECTED_TOTAL"
    check "${R_PAID_TOTAL[r]} == $EXPECTED_TOTAL" "round $r: the PAID orders in Redis total ${R_PAID_TOTAL[r]} won, not $EXPECTED_TOTAL"
    check "${P_PAYMENT_ROWS[r]} == $STOCK && ${P_PAYMENT_SUM[r]} == $EXPECTED_TOTAL" "round $r: PostgreSQL holds ${P_PAYMENT_ROWS[r]} PAYMENT rows summing ${P_PAYMENT_SUM[r]} won, not $STOCK summing $EXPECTED_TOTAL"
    check "${P_PAID_TOTAL[r]} == $EXPECTED_TOTAL" "round $r: PostgreSQL's PAID orders total ${P_PAID_TOTAL[r]} won, not $EXPECTED_TOTAL"
    check "${P_REFUNDS[r]} == 0" "round $r: PostgreSQL holds ${P_REFUNDS[r]} REFUND rows"
    [ "${PROBE_AFTER[r]}" = yes ] || { CORRECT=no; WHY+=("round $r: an order after the race did not answer nginx's 409 but for the product id: ${PROBE_AFTER[r]}"); }
    if [ -n "${DRAIN_SECONDS[r]}" ]; then
        DRAIN_WORST=$(awk -v a="$DRAIN_WORST" -v b="${DRAIN_SECONDS[r]}" 'BEGIN { print (b > a) ? b : a }')
    else
        DRAIN_ALL=no
    fi
    PAID_LIST+="${PAID_LIST:+, }${G_2XX[r]}" R_PAID_LIST+="${R_PAID_LIST:+, }${R_PAID[r]}" P_PAID_LIST+="${P_PAID_LIST:+, }${P_PAID[r]}"
    STOCK_LIST+="${STOCK_LIST:+, }${R_STOCK[r]} (lowest seen ${STOCK_MIN[r]})" DEBITED_LIST+="${DEBITED_LIST:+, }${R_DEBITED[r]}"
done
check "$W_SUM == $EXPECTED_BALANCES" "the wallets hold $W_SUM won, not $USERS × $CHARGE − $ROUNDS × $STOCK × $PRICE = $EXPECTED_BALANCES"
for w in "${WHY[@]}"; do warn "$w"; done
# A run whose answers were not all 201 or 409 does not pass on speed, however fast it was.
clean() { if [ "$G_BAD" -eq 0 ]; then "$@"; else echo "**MISS** (answers other than 201/409 or socket errors, see below)"; fi; }
or_na() { if [ -n "$1" ] && [ "$1" != "n/a" ]; then echo "+$1 ms"; else echo "n/a"; fi; }
# rounds ARRAY SEPARATOR: the array's values for rounds 1..ROUNDS, joined.
rounds() {
    local -n values=$1
    local r out=""
    for ((r = 1; r <= ROUNDS; r++)); do out+="${out:+$2}${values[r]}"; done
    echo "$out"
}

# --- RESULTS.md ---------------------------------------------------------------------------------------
section="$DIR/section.md"
MINUTES=$(bench_elapsed)
{
    echo "<!-- flashsale.sh begin -->"
    echo "## Flash sale: $USERS buyers race for $STOCK units (bench/flashsale.sh)"
    echo
    echo "$(bench_measured floodgate nginx wrk redis postgres) The whole bench took $MINUTES."
    echo
    echo "$USERS seeded users, each wallet charged with $CHARGE won (POST /wallet/charge, $CHARGE_THREADS keep-alive clients: ${CHARGE_SECONDS} s). Each round is a fresh sale: an event without a queue and its product, $STOCK units at $PRICE won (POST /admin/events, POST /admin/products)."
    echo "wrk sends POST /orders \`{\"items\":[{\"productId\":\"…\",\"quantity\":1}]}\` (pay defaults to true) with \`bench/flashsale/order.lua\`: every request from the next buyer, cycling through all $USERS, for $DURATION at $CONNECTIONS connections — every buyer keeps trying until the run ends, and once the stock is gone each attempt is a 409 OUT_OF_STOCK; every attempt counts."
    echo "An attempt is the session check and lua/order_place.lua; a winner also runs lua/wallet_debit.lua, lua/order_confirm.lua and lua/wallet_settle.lua before its 201 PAID."
    echo "Gateway: \`floodgate serve\`, FLOODGATE_THREADS=$THREADS; one \`floodgate worker\`; Redis with the shipped config/redis.conf (AOF, appendfsync always); PostgreSQL with durable defaults (fsync, synchronous_commit on)."
    echo "nginx: 2 workers, \`access_log off\`, \`keepalive_requests 1000000\`, \`reuseport\`, the same requests, answered with status 409 and the gateway's own 409 body for a sold-out product, $BODY_BYTES bytes, byte for byte: \`$BODY\` (after each race, the sale's product answers the same but for its id)."
    if [ "$WARMUP_SECONDS" -gt 0 ]; then
        echo "Before the rounds, a $WARMUP warm-up of each with the same script; the gateway's against a sold-out decoy product ($WARMUP_TEXT). The sale's product itself is new to the gateway when its race starts (each loop looks its event up in PostgreSQL once)."
    fi
    echo "Everything on loopback; wrk, the servers, Redis, the worker and PostgreSQL share the machine's $(nproc) cores (load average before the runs: $LOAD_BEFORE)."
    echo "$ROUNDS rounds, gateway and nginx alternating; each figure is the mean of the rounds (p99: the worst round)."
    echo
    echo "| connections | gateway attempts/s | nginx req/s | gateway/nginx | gateway p50 | gateway p99 | nginx p50 | nginx p99 | 201 PAID per round | other + socket errors (gw / nginx) |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    echo "| $CONNECTIONS | $G_RPS | $N_RPS | $RATIO | $G_P50 ms | $G_P99_WORST ms | $N_P50 ms | $N_P99_WORST ms | $PAID_LIST | $G_BAD / $N_BAD |"
    echo
    echo "201 PAID: wrk's own count of the gateway's 2xx answers (answers − non-2xx). Other: the gateway's answers that were neither 201 nor 409 (its /metrics), plus wrk's socket errors; for nginx, anything but its 409."
    echo
    echo "Targets (DESIGN.md, issue 6):"
    echo "- exactly $STOCK PAID in every round: 201 answers $PAID_LIST; PAID orders in Redis $R_PAID_LIST, in PostgreSQL $P_PAID_LIST; stock left $STOCK_LIST; debits $DEBITED_LIST won (each = $STOCK × $PRICE) — $([ "$CORRECT" = yes ] && echo PASS || echo "**MISS** (${WHY[*]})")"
    echo "- ≥ $TARGET_RPS order attempts/s: $G_RPS (rounds: $(rounds G_RPS_R ", ")) — $(clean verdict "$G_RPS >= $TARGET_RPS")"
    echo "- p99 ≤ $TARGET_P99_MS ms at $CONNECTIONS connections: $G_P99_WORST ms (rounds: $(rounds G_P99 " ms, ") ms) — $(clean verdict "$G_P99_WORST <= $TARGET_P99_MS")"
    echo "- every paid order in PostgreSQL within $TARGET_DRAIN_SECONDS s of the last answer: worst ${DRAIN_WORST} s (rounds: $(rounds DRAIN_TEXT "; ")) — $([ "$DRAIN_ALL" = yes ] && verdict "$DRAIN_WORST <= $TARGET_DRAIN_SECONDS" || echo '**MISS**')"
    # shellcheck disable=SC2016  # backticks for Markdown, not a command
    echo "- warnings or errors logged: gateway $GATEWAY_COMPLAINTS$([ "$GATEWAY_COMPLAINTS" -eq 0 ] || printf ' (first: `%s`)' "$(first_complaint "$DIR/gateway.log")"), worker $WORKER_COMPLAINTS$([ "$WORKER_COMPLAINTS" -eq 0 ] || printf ' (first: `%s`)' "$(first_complaint "$DIR/worker.log")"); dead letters ${DEAD_LETTERS:-?}"
    echo
    echo "| run | server | answers | req/s | p50 | p90 | p99 | max | 2xx | non-2xx | socket errors | CPU of processes the bench did not start; hypervisor steal (% of one core) |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    printf '%s\n' "${RUN_ROWS[@]}"
    echo
    echo "CPU (% of one core, from /proc) during the gateway's runs: gateway ${GW_CPU}% ($GW_US µs per attempt), Redis ${REDIS_CPU}% ($REDIS_US µs per attempt), worker ${WORKER_CPU}%;" \
        "during its own runs nginx used ${NGINX_CPU}%, $NGINX_US µs per request. wrk, PostgreSQL and the kernel's loopback take the rest of the $(nproc) cores."
    echo
    echo "### The races"
    echo
    echo "Times from wrk's start (wrk opens its $CONNECTIONS connections first). The stock sampler reads the product's stock in Redis every 5 ms; createdAt and paidAt are Redis TIME, written by the scripts; PostgreSQL's lag is the worker's transaction time (updated_at) − paidAt."
    echo "The gateway's own time runs from the parsed request to the response (its /metrics histogram, so bucket bounds); its answer count includes those in flight when wrk stopped."
    echo
    echo "| round | first unit taken | stock at 0 | first / last order placed | last order paid | PostgreSQL behind Redis per paid order p50 / p99 / max | all $STOCK PAID in PostgreSQL, from the end of wrk | the gateway's own time per answer | the gateway's answers |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---|---|"
    for ((r = 1; r <= ROUNDS; r++)); do
        echo "| $r | $(or_na "${STOCK_FIRST_MS[r]}") | $(or_na "${STOCK_ZERO_MS[r]}") | $(or_na "${FIRST_PLACED_MS[r]}") / $(or_na "${LAST_PLACED_MS[r]}") | $(or_na "${LAST_PAID_MS[r]}") | ${LAG_P50_MS[r]} / ${LAG_P99_MS[r]} / ${LAG_MAX_MS[r]} ms | ${DRAIN_TEXT[r]} | ${SERVER_LATENCY[r]} | ${M_TEXT[r]}$([ "$WRK_STATUSES" = 1 ] && echo "; wrk's response(): ${G_STATUS_TEXT[r]}") |"
    done
    echo
    echo "### Invariants after each race"
    echo
    echo "| round | orders by status: Redis / PostgreSQL | units in PAID orders: Redis / PostgreSQL | amount of PAID orders: Redis / PostgreSQL | payments by state (Redis) / PAYMENT rows (PostgreSQL) | REFUND rows | open payments / unpaid holds | stock left (lowest seen) | buyers with a PAID order / most by one buyer |"
    echo "|---:|---|---:|---:|---|---:|---:|---:|---:|"
    for ((r = 1; r <= ROUNDS; r++)); do
        echo "| $r | ${R_BY_STATUS[r]} / ${P_BY_STATUS[r]} | ${R_UNITS[r]} / ${P_UNITS[r]} | ${R_PAID_TOTAL[r]} / ${P_PAID_TOTAL[r]} | ${R_PAYMENTS[r]}, ${R_DEBITED[r]} won / ${P_PAYMENT_ROWS[r]} rows, ${P_PAYMENT_SUM[r]} won | ${P_REFUNDS[r]} | ${R_OPEN[r]} / ${R_HOLDS[r]} | ${R_STOCK[r]} (${STOCK_MIN[r]}) | ${R_BUYERS[r]} / ${R_MAX_PER_BUYER[r]} |"
    done
    echo
    echo "After the last round, the $USERS wallets hold $W_SUM won (expected $USERS × $CHARGE − $ROUNDS × $STOCK × $PRICE = $EXPECTED_BALANCES; lowest $W_MIN, highest $W_MAX) — $([ "$W_SUM" = "$EXPECTED_BALANCES" ] && echo PASS || echo '**MISS**')."
    echo
    echo "### Knobs and commands"
    echo
    echo "BENCH_DURATION=$DURATION BENCH_CONNECTIONS=$CONNECTIONS BENCH_ROUNDS=$ROUNDS BENCH_USERS=$USERS BENCH_STOCK=$STOCK BENCH_PRICE=$PRICE BENCH_CHARGE=$CHARGE BENCH_WARMUP=$WARMUP BENCH_DRAIN_TIMEOUT=$DRAIN_TIMEOUT BENCH_WRK_STATUSES=$WRK_STATUSES$([ "${BENCH_NO_BUILD:-0}" = 1 ] && echo " BENCH_NO_BUILD=1")"
    echo
    echo '```'
    echo "ulimit -n $NOFILE"
    echo "FLOODGATE_THREADS=$THREADS FLOODGATE_ADMIN_KEY=… FLOODGATE_PORT=$GATEWAY_PORT ${BIN#"$FLOODGATE_ROOT"/} serve   # gateway"
    echo "FLOODGATE_WORKER_PORT=$WORKER_PORT ${BIN#"$FLOODGATE_ROOT"/} worker"
    echo "${BIN#"$FLOODGATE_ROOT"/} seed users --count $USERS --out \$DIR/users.csv --token-ttl-seconds 7200"
    echo "python3 bench/flashsale/flashsale.py charge --port $GATEWAY_PORT --users \$DIR/users.csv --amount $CHARGE --threads $CHARGE_THREADS"
    for ((r = 1; r <= ROUNDS; r++)); do
        echo "python3 bench/flashsale/flashsale.py create-sale --port $GATEWAY_PORT --admin-key … --price $PRICE --stock $STOCK --decoy-stock 0   # round $r: event ${EVENTS[r]}, product ${PRODUCTS[r]}, decoy ${DECOYS[r]}"
    done
    echo "nginx -p \$DIR/nginx -c \$DIR/nginx/nginx.conf   # conf from bench/nginx.conf.template, location = /orders, return 409 with the body above"
    [ "$WARMUP_SECONDS" -gt 0 ] && echo "wrk -t$WRK_THREADS -c$CONNECTIONS -d$WARMUP -s bench/flashsale/order.lua http://127.0.0.1:{$GATEWAY_PORT,$NGINX_PORT} -- \$DIR/users.csv $DECOY $WRK_THREADS   # warm-up of each"
    echo "python3 bench/flashsale/flashsale.py sample-stock --redis-port $REDIS_PORT --key '{ev:<event>}:product:<product>' --seconds $((DURATION_SECONDS + DRAIN_TIMEOUT + 30)) --interval-ms 5 --out \$DIR/stock-<round>.txt &   # during each race"
    printf "$([ "$WRK_STATUSES" = 1 ] && echo 'FLASHSALE_WRK_STATUSES=1 ')%s\n" "${COMMANDS[@]//"$FLOODGATE_ROOT"\//}"
    echo "psql … -c \"SELECT count(*) FROM orders WHERE event_id = '<event>' AND status = 'PAID'\"   # every 50 ms after each race, until $STOCK"
    echo "python3 bench/flashsale/flashsale.py redis-check --redis-port $REDIS_PORT --event <event> --product <product>   # after each race"
    echo "python3 bench/flashsale/flashsale.py wallets --redis-port $REDIS_PORT --users \$DIR/users.csv   # after the last round"
    echo '```'
    echo "<!-- flashsale.sh end -->"
} >"$section"

bench_publish flashsale.sh "$section" "| connections" "$MINUTES"
[ "$CORRECT" = yes ] || die "correctness checks failed (recorded in bench/RESULTS.md): ${WHY[*]}"
