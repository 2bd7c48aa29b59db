#!/usr/bin/env bash
# bench/storm.sh — `floodgate storm mixed` (issue 9): BENCH_CLIENTS (2,000) virtual clients, split over
# queue-flood, flash-sale, seat-race and coupon-race, against a local stack for at most BENCH_DURATION
# (60 s), then the storm's invariant check against the gateway and PostgreSQL.
#
#   bench/storm.sh                (as root or a user who may sudo for the package install)
#
# 1. Installs what is missing (redis-server, postgresql, libhiredis-dev, libpq-dev, curl, python3), builds the
#    release binary, and starts on free loopback ports, under .data/bench-storm-<pid>/: a Redis (the
#    shipped config/redis.conf: AOF, appendfsync always), a PostgreSQL with durable defaults,
#    `floodgate serve` (FLOODGATE_THREADS=2, an admin key of its own) and `floodgate worker`.
# 2. Runs `floodgate storm mixed` against the gateway: it seeds its users in-process, charges their
#    wallets through the API, creates a queued sale, a flash sale, a concert and a coupon, and drives the
#    clients on its own event loops (BENCH_STORM_LOOPS, 2). Each part goes in rounds at its own pace: a
#    round ends once the part's work is done (queue-flood is paced by the queue's admission rate,
#    BENCH_ADMIT_PER_SECOND); with BENCH_ROUNDS=0 (the default) each part starts round after round on fresh
#    stock, seats and coupons until BENCH_DURATION.
#    The storm shares the machine's 2 cores with the gateway, Redis, PostgreSQL and the worker.
# 3. Writes the storm's report (text and JSON) into its section of bench/RESULTS.md (between the storm.sh
#    markers) and stops everything it started, whatever happens. Exits 1 after writing the section when
#    an invariant was violated.
#
# Knobs (RESULTS.md records what was used): BENCH_CLIENTS (2000), BENCH_DURATION (60, seconds), BENCH_STOCK
# (200), BENCH_SEATS (200), BENCH_COUPONS (200), BENCH_MAX_ACTIVE (100), BENCH_ADMIT_PER_SECOND (200),
# BENCH_ROUNDS (0: until BENCH_DURATION),
# BENCH_CONNECTIONS (1000, the storm's connections to the gateway), BENCH_STORM_LOOPS (2), BENCH_NO_BUILD=1
# (use the binary already built), BENCH_KEEP=1 (keep the data folder). FLOODGATE_SCRATCH as in scripts/test.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/../scripts/lib/bench.sh"   # and, through it, the other libraries
cd "$FLOODGATE_ROOT"

CLIENTS=${BENCH_CLIENTS:-2000}
DURATION=${BENCH_DURATION:-60}
STOCK=${BENCH_STOCK:-200}
SEATS=${BENCH_SEATS:-200}
COUPONS=${BENCH_COUPONS:-200}
MAX_ACTIVE=${BENCH_MAX_ACTIVE:-100}
ADMIT_PER_SECOND=${BENCH_ADMIT_PER_SECOND:-200}
ROUNDS=${BENCH_ROUNDS:-0}
[[ $ROUNDS =~ ^[0-9]+$ ]] || die "BENCH_ROUNDS=$ROUNDS: expected a whole number (0: until BENCH_DURATION)"
CONNECTIONS=${BENCH_CONNECTIONS:-1000}
STORM_LOOPS=${BENCH_STORM_LOOPS:-2}
THREADS=2
for knob in CLIENTS DURATION STOCK SEATS COUPONS MAX_ACTIVE ADMIT_PER_SECOND CONNECTIONS STORM_LOOPS; do
    if ! [[ ${!knob} =~ ^[0-9]+$ ]] || [ "${!knob}" -eq 0 ]; then die "BENCH_$knob=${!knob}: expected a positive whole number"; fi
done
[ "$SEATS" -le 1000 ] || die "BENCH_SEATS=$SEATS: a performance has at most 1,000 seats"

DIR="$FLOODGATE_ROOT/.data/bench-storm-$$"

bench_stop_at_exit GATEWAY_PID "floodgate serve" 10
bench_stop_at_exit WORKER_PID "floodgate worker" 20
bench_show_on_failure gateway 20
bench_show_on_failure worker 20
BENCH_KEEPABLE=1
bench_traps

# --- Set-up -------------------------------------------------------------------------------------------
bench_setup redis-server postgresql libhiredis-dev libpq-dev curl python3
bench_raise_nofile $((CONNECTIONS * 2 + 1000)) "$CONNECTIONS connections may not all open"
mkdir -p "$DIR"
bench_pick_ports REDIS_PORT PG_PORT GATEWAY_PORT WORKER_PORT
bench_start_stores run
bench_build
bench_admin_key
bench_configure

log "starting floodgate serve (FLOODGATE_THREADS=$THREADS) on 127.0.0.1:$GATEWAY_PORT and floodgate worker (metrics on $WORKER_PORT)"
export FLOODGATE_MAX_CONNECTIONS=$((CONNECTIONS + 1000))
bench_start_gateway /health
bench_start_worker

# --- The storm ----------------------------------------------------------------------------------------
STORM_ARGS=(storm mixed --target "http://127.0.0.1:$GATEWAY_PORT" --clients "$CLIENTS" --duration "$DURATION" --rounds "$ROUNDS"
    --stock "$STOCK" --seats "$SEATS" --coupons "$COUPONS" --max-active "$MAX_ACTIVE"
    --admit-per-second "$ADMIT_PER_SECOND" --connections "$CONNECTIONS" --loops "$STORM_LOOPS" --charge 10000000
    --json "$DIR/storm.json")
log "floodgate ${STORM_ARGS[*]}"
storm_status=0
# The progress lines go to storm.log (plain lines: not a terminal); the report to storm.txt.
run_bounded $((DURATION + 600)) "" "$BIN" "${STORM_ARGS[@]}" >"$DIR/storm.txt" 2>"$DIR/storm.log" || storm_status=$?
[ -s "$DIR/storm.txt" ] || die "floodgate storm wrote no report (exit $storm_status): $(tail -n 5 "$DIR/storm.log")"
cat "$DIR/storm.txt" >&2

# --- RESULTS.md ---------------------------------------------------------------------------------------
MINUTES=$(bench_elapsed)
summary=$(python3 - "$DIR/storm.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
l = r["latency"]
print("| %d | %s | %.1f s%s | %d | %.0f | %.2f ms | %.2f ms | %.2f ms | %.2f ms | %.2f ms | %d | %s |" % (
    r["clients"], " / ".join(str(r["rounds"].get(p, 0)) for p in ("queue-flood", "flash-sale", "seat-race", "coupon-race")), r["loadSeconds"], " (deadline)" if r["stoppedByDeadline"] else "", r["requests"],
    r["requestsPerSecond"], l["p50Ms"], l["p90Ms"], l["p99Ms"], l["p99.9Ms"], l["maxMs"], r["errors"]["total"],
    "all %d hold" % len(r["invariants"]) if r["passed"] else "**%d violated**" % sum(1 for i in r["invariants"] if not i["holds"])))
PY
)
section="$DIR/section.md"
storm_command="${STORM_ARGS[*]}"
storm_command=${storm_command% --json*}
{
    echo "<!-- storm.sh begin -->"
    echo "## Storm: mixed scenario with invariant check (bench/storm.sh)"
    echo
    echo "$(bench_measured floodgate redis postgres) The whole bench took $MINUTES."
    echo
    echo "Gateway: \`floodgate serve\`, FLOODGATE_THREADS=$THREADS, and one \`floodgate worker\`, against a local Redis (AOF, appendfsync always) and PostgreSQL (durable defaults)."
    echo "Storm: \`floodgate $storm_command\` on $STORM_LOOPS loops of its own, on the same 2 cores."
    echo "Each part of \`mixed\` (a quarter of the clients) goes in rounds at its own pace: a round ends when the part's work is done (every unit, seat or coupon gone; every queued user admitted and served), and the next round races for fresh ones with the same users, until --duration. The invariants are checked for every round. Latency is per request, from the storm's call to the complete answer (waiting for a free connection included)."
    echo
    echo "| clients | rounds (queue / sale / seats / coupons) | load | requests | requests/s | p50 | p90 | p99 | p99.9 | max | errors | invariants |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    echo "$summary"
    echo
    if [ "$storm_status" -eq 0 ]; then
        echo "- every invariant holds (floodgate storm exited 0)"
    else
        echo "- **an invariant was violated** (floodgate storm exited $storm_status)"
    fi
    echo
    echo "### The storm's report"
    echo
    echo '```'
    cat "$DIR/storm.txt"
    echo '```'
    echo "<!-- storm.sh end -->"
} >"$section"
bench_publish storm.sh "$section" "| clients" "$MINUTES"
[ "$storm_status" -eq 0 ] || die "floodgate storm exited $storm_status: an invariant was violated (see the report above)"
