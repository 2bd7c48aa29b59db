#!/usr/bin/env bash
# bench/writebehind.sh — how fast one `floodgate worker` drains the outbox into PostgreSQL, and how far
# PostgreSQL trails Redis under a steady charge load.
#
#   bench/writebehind.sh          (as root, or a user who may sudo for the package install)
#
# 1. Installs what is missing (redis-server, postgresql, libhiredis-dev, libpq-dev, wrk, curl, python3),
#    builds the release binary, and starts on free loopback ports, under .data/bench-wb-<pid>/, a Redis
#    with the shipped config/redis.conf (AOF, appendfsync always) and a PostgreSQL with durable defaults —
#    or uses BENCH_REDIS_URL / BENCH_PG_URL when given (nothing is flushed there; the drain then also
#    covers whatever backlog those streams already hold).
# 2. Migrates, seeds BENCH_USERS users (`floodgate seed users`), and pre-fills BENCH_EVENTS (200,000)
#    WALLET_CHARGED events: EVALSHA of lua/wallet_charge.lua with the gateway's keys and arguments,
#    pipelined through `redis-cli --pipe` — real events, made the real way, before any worker runs.
# 3. Drain: starts ONE `floodgate worker` and times it from its start until its writer group has nothing
#    left on any stream (XINFO GROUPS lag 0 and XPENDING 0 on all 16 streams) and PostgreSQL holds
#    every event. Then reads the idle worker's CPU use for a few seconds.
# 4. Lag under load: starts `floodgate serve` (FLOODGATE_THREADS=2) and drives ~BENCH_RATE (5,000)
#    POST /wallet/charge per second for BENCH_LOAD_SECONDS (60) with wrk (paced with wrk's delay()),
#    while a sampler reads, every 100 ms, Redis TIME minus the time of the oldest outbox entry the writer
#    group has not acknowledged (pending or undelivered; entry ids carry Redis milliseconds): p50/p99/max.
# 5. Checks that PostgreSQL matches Redis (rows = events, sum of amounts = sum of wallet balances), rewrites
#    its section of bench/RESULTS.md (between the writebehind.sh markers), and stops everything it
#    started, whatever happens.
#
# Knobs: BENCH_EVENTS (200000), BENCH_USERS (1000), BENCH_RATE (5000), BENCH_LOAD_SECONDS (60),
# BENCH_DELAY_MS (10) and BENCH_CONNECTIONS (from the rate), BENCH_WORKER_BATCH (the worker's default),
# BENCH_REDIS_URL, BENCH_PG_URL.
# FLOODGATE_SCRATCH=DIR builds in DIR instead of .build.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/../scripts/lib/bench.sh"   # and, through it, the other libraries
cd "$FLOODGATE_ROOT"

EVENTS=${BENCH_EVENTS:-200000}
USERS=${BENCH_USERS:-1000}
RATE=${BENCH_RATE:-5000}
LOAD_SECONDS=${BENCH_LOAD_SECONDS:-60}
# Pacing: each wrk connection waits DELAY_MS between its requests (wrk's delay()); the response and wrk's
# millisecond timers add about 2 ms, so RATE needs RATE × (DELAY_MS + 2) / 1000 connections. The rate
# reached is measured and reported.
DELAY_MS=${BENCH_DELAY_MS:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-$(awk -v r="$RATE" -v d="$DELAY_MS" 'BEGIN { c = r * (d + 2) / 1000; print (c == int(c)) ? c : int(c) + 1 }')}
THREADS=2
TARGET_DRAIN=50000   # events/s, DESIGN.md "What fast means"

DIR="$FLOODGATE_ROOT/.data/bench-wb-$$"

# What the teardown stops, in this order, if it was started; the logs it shows when the bench fails.
bench_stop_at_exit SAMPLER_PID "lag sampler" 5
bench_stop_at_exit GATEWAY_PID "floodgate serve" 10
bench_stop_at_exit WORKER_PID "floodgate worker" 20
bench_show_on_failure worker 15
bench_show_on_failure gateway 15
bench_traps

# --- Set-up -------------------------------------------------------------------------------------------
bench_setup redis-server postgresql libhiredis-dev libpq-dev wrk curl python3
mkdir -p "$DIR"

if [ -n "${BENCH_REDIS_URL:-}" ]; then
    REDIS_URL=$BENCH_REDIS_URL
    log "using the Redis at $REDIS_URL"
else
    pick_free_port REDIS_PORT
    log "starting Redis on 127.0.0.1:$REDIS_PORT (config/redis.conf: AOF, appendfsync always)"
    bench_start_redis
fi
REDIS_HOST=$(url_host "$REDIS_URL")
REDIS_PORT=$(url_port "$REDIS_URL" 6379)

if [ -n "${BENCH_PG_URL:-}" ]; then
    PG_URL=$BENCH_PG_URL
    log "using the PostgreSQL at $PG_URL"
else
    pick_free_port PG_PORT
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT (durable defaults: fsync, synchronous_commit on)"
    bench_start_pg run
fi
bench_pick_ports WORKER_PORT GATEWAY_PORT

BENCH_NO_BUILD=0 bench_build   # this bench always builds (it has no BENCH_NO_BUILD knob)
if [ -n "${BENCH_WORKER_BATCH:-}" ]; then export FLOODGATE_WORKER_BATCH="$BENCH_WORKER_BATCH"; fi
bench_configure

# --- A tiny RESP client for the measurements (no Redis module needed) ---------------------------------
cat >"$DIR/outbox.py" <<'PY'
import socket, sys, time

STREAMS = ["{u%02d}:outbox" % i for i in range(16)]

class Redis:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port))
        self.buf = b""
    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk: raise IOError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line
    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk: raise IOError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data
    def _reply(self):
        line = self._line(); kind, rest = line[:1], line[1:]
        if kind == b"+": return rest.decode()
        if kind == b"-": return Exception(rest.decode())
        if kind == b":": return int(rest)
        if kind == b"$": return None if int(rest) < 0 else self._exact(int(rest)).decode()
        if kind == b"*": return None if int(rest) < 0 else [self._reply() for _ in range(int(rest))]
        raise IOError("bad reply %r" % line)
    def pipeline(self, commands):
        out = b""
        for args in commands:
            out += b"*%d\r\n" % len(args)
            for a in args:
                a = str(a).encode(); out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return [self._reply() for _ in commands]

def ms(entry_id): return int(entry_id.split("-")[0])

def state(r):
    """(Redis now ms, undelivered, pending, oldest unacknowledged ms or None) over all user streams."""
    cmds = [["TIME"]]
    for s in STREAMS: cmds += [["XINFO", "GROUPS", s], ["XPENDING", s, "writer"]]
    replies = r.pipeline(cmds)
    now = int(replies[0][0]) * 1000 + int(replies[0][1]) // 1000
    undelivered = pending = 0; oldest = None; follow = []
    for i, s in enumerate(STREAMS):
        groups, summary = replies[1 + 2 * i], replies[2 + 2 * i]
        if isinstance(groups, Exception): continue          # no such stream: nothing to write
        writer = None
        for g in groups:
            d = dict(zip(g[0::2], g[1::2]))
            if d.get("name") == "writer": writer = d
        if writer is None or isinstance(summary, Exception):
            # No writer group yet: everything in the stream is undelivered.
            follow.append(["XRANGE", s, "-", "+", "COUNT", "1"]); undelivered += 1; continue
        pending += int(summary[0])
        if int(summary[0]) > 0:
            oldest = min(oldest or ms(summary[1]), ms(summary[1]))
        lag = writer.get("lag")
        if lag is None or int(lag) > 0:
            undelivered += int(lag) if lag is not None else 1
            follow.append(["XRANGE", s, "(" + writer["last-delivered-id"], "+", "COUNT", "1"])
    if follow:
        for reply in r.pipeline(follow):
            if isinstance(reply, list) and reply:
                oldest = min(oldest or ms(reply[0][0]), ms(reply[0][0]))
    return now, undelivered, pending, oldest

def main():
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    r = Redis(host, port)
    if mode == "drained":            # exit 0 when the writer group holds nothing anywhere
        now, undelivered, pending, oldest = state(r)
        sys.exit(0 if undelivered == 0 and pending == 0 else 1)
    if mode == "wait-drained":       # poll every 10 ms on one connection; print the wall time when drained
        deadline = time.time() + float(sys.argv[4])
        while time.time() < deadline:
            now, undelivered, pending, oldest = state(r)
            if undelivered == 0 and pending == 0:
                print("%.3f" % time.time()); return
            time.sleep(0.01)
        sys.exit(1)
    if mode == "sample":             # lag samples (ms) every 100 ms for SECONDS, one per line
        seconds, out = float(sys.argv[4]), open(sys.argv[5], "w")
        end = time.time() + seconds
        while time.time() < end:
            now, undelivered, pending, oldest = state(r)
            out.write("%d\n" % (0 if oldest is None else max(0, now - oldest))); out.flush()
            time.sleep(0.1)
    if mode == "balances":           # sum of the wallet balances of the users in a users.csv
        users = [line.split(",")[0] for line in open(sys.argv[4]) if line.strip()]
        total = 0
        for i in range(0, len(users), 1000):
            chunk = users[i:i + 1000]
            for v in r.pipeline([["GET", "%s:wallet:%s" % (tag(u), u)] for u in chunk]):
                total += int(v or 0)
        print(total)
    if mode == "prefill":            # RESP for redis-cli --pipe: EVALSHA wallet_charge like the gateway
        sha, users_csv, count, out = sys.argv[4], sys.argv[5], int(sys.argv[6]), open(sys.argv[7], "wb")
        users = [line.split(",")[0] for line in open(users_csv) if line.strip()]
        import os
        buf = []
        for n in range(count):
            u = users[n % len(users)]; t = tag(u); amount = 1 + n % 100
            charge = "chg_" + os.urandom(12).hex()
            args = ["EVALSHA", sha, "3", "%s:wallet:%s" % (t, u), "%s:idem:%s:charge:-" % (t, u), "%s:outbox" % t,
                    u, str(amount), charge, "amount=%d" % amount, "", "86400", "10000000", "1000000000"]
            b = b"*%d\r\n" % len(args)
            for a in args:
                a = a.encode(); b += b"$%d\r\n%s\r\n" % (len(a), a)
            buf.append(b)
            if len(buf) == 10000: out.write(b"".join(buf)); buf = []
        out.write(b"".join(buf))

def tag(user):
    # UserKeys: FNV-1a over the id, 16 shards.
    h = 2166136261
    for byte in user.encode():
        h = ((h ^ byte) * 16777619) & 0xffffffff
    return "{u%02d}" % (h % 16)

main()
PY
outbox() { python3 "$DIR/outbox.py" "$1" "$REDIS_HOST" "$REDIS_PORT" "${@:2}"; }
drained() { outbox drained; }

# --- Users and the pre-filled backlog -----------------------------------------------------------------
bench_seed_users "$USERS"
ROWS_BEFORE=$(psql_q "SELECT count(*) FROM wallet_transactions")

log "pre-filling $EVENTS WALLET_CHARGED events (EVALSHA wallet_charge.lua through redis-cli --pipe)"
SHA=$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" -x SCRIPT LOAD <"$FLOODGATE_ROOT/lua/wallet_charge.lua")
outbox prefill "$SHA" "$DIR/users.csv" "$EVENTS" "$DIR/prefill.resp"
prefill_started=$(date +%s.%N)
redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" --pipe <"$DIR/prefill.resp" >"$DIR/prefill.out" 2>&1 ||
    die "redis-cli --pipe failed: $(tail -n 3 "$DIR/prefill.out")"
prefill_seconds=$(awk -v a="$prefill_started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
grep -q "errors: 0, replies: $EVENTS" "$DIR/prefill.out" || die "pre-fill had errors: $(tail -n 2 "$DIR/prefill.out")"
rm -f "$DIR/prefill.resp"
note "$EVENTS events in $prefill_seconds s"

# --- Drain --------------------------------------------------------------------------------------------
metric() { curl -fs --max-time 2 "http://127.0.0.1:$WORKER_PORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

log "starting ONE floodgate worker and timing the drain"
# One long-lived poller (a new process per check would eat a core of its own): it sees the writer group
# missing until the worker creates it, so it cannot report "drained" before the worker has started.
start_in_own_group python3 "$DIR/outbox.py" wait-drained "$REDIS_HOST" "$REDIS_PORT" 600 >"$DIR/drained-at"
SAMPLER_PID=$STARTED_PID
sleep 0.5
drain_started=$(date +%s.%N)
start_in_own_group "$BIN" worker >>"$DIR/worker.log" 2>&1
WORKER_PID=$STARTED_PID
wait "$SAMPLER_PID" || die "the writer group still holds entries after 600 s (worker alive: $(pid_alive "$WORKER_PID" && echo yes || echo no))"
SAMPLER_PID=""
drain_seconds=$(awk -v a="$drain_started" -v b="$(cat "$DIR/drained-at")" 'BEGIN { printf "%.3f", b - a }')
DRAIN_RATE=$(awk -v n="$EVENTS" -v s="$drain_seconds" 'BEGIN { printf "%.0f", n / s }')
ROWS_DRAINED=$(($(psql_q "SELECT count(*) FROM wallet_transactions") - ROWS_BEFORE))
DRAIN_BATCHES=$(metric floodgate_outbox_batches_total)
note "drained $EVENTS events in $drain_seconds s: $DRAIN_RATE events/s ($DRAIN_BATCHES transactions; rows added: $ROWS_DRAINED)"
[ "$ROWS_DRAINED" -eq "$EVENTS" ] || warn "PostgreSQL gained $ROWS_DRAINED rows for $EVENTS events"

# Idle cost: CPU of the worker with nothing to do.
sleep 1
ticks_a=$(cpu_ticks "$WORKER_PID")
sleep 5
ticks_b=$(cpu_ticks "$WORKER_PID")
IDLE_CPU=$(cpu_pct $((ticks_b - ticks_a)) 5 1)
note "idle worker CPU: $IDLE_CPU% of one core"

# --- Lag under a steady load --------------------------------------------------------------------------
log "starting floodgate serve (FLOODGATE_THREADS=$THREADS)"
bench_start_gateway /health

cat >"$DIR/charge.lua" <<LUA
local tokens = {}
for line in io.lines("$DIR/users.csv") do
  local token = line:match(",(.+)$")
  if token then tokens[#tokens + 1] = token end
end
local n = 0
function request()
  n = n + 1
  local token = tokens[(n * 7919 + math.random(#tokens)) % #tokens + 1]
  return wrk.format("POST", "/wallet/charge",
    { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }, '{"amount":3}')
end
function delay() return $DELAY_MS end
LUA

log "driving ~$RATE charges/s for ${LOAD_SECONDS}s (wrk -t2 -c$CONNECTIONS, delay ${DELAY_MS} ms) and sampling the lag every 100 ms"
ROWS_BEFORE_LOAD=$(psql_q "SELECT count(*) FROM wallet_transactions")
ticks_a=$(cpu_ticks "$WORKER_PID")
start_in_own_group python3 "$DIR/outbox.py" sample "$REDIS_HOST" "$REDIS_PORT" "$LOAD_SECONDS" "$DIR/lag.txt"
SAMPLER_PID=$STARTED_PID
LOAD_WRK_ARGS=(-t2 "-c$CONNECTIONS" "-d${LOAD_SECONDS}s" --latency -s "$DIR/charge.lua" "http://127.0.0.1:$GATEWAY_PORT")
bench_wrk "the gateway" "$DIR/wrk.txt" $((LOAD_SECONDS + 60)) "${LOAD_WRK_ARGS[@]}"
ticks_b=$(cpu_ticks "$WORKER_PID")
wait_for 30 "the lag sampler to finish" pid_gone "$SAMPLER_PID" || true
bench_stop SAMPLER_PID
LOAD_CPU=$(cpu_pct $((ticks_b - ticks_a)) "$LOAD_SECONDS" 1)

LOAD_REQUESTS=$WRK_REQUESTS LOAD_RPS=$WRK_RPS LOAD_BAD=$((WRK_SOCKET + WRK_NON2XX))
LOAD_P99=$(awk '$1 == "99%" { print $2 }' "$DIR/wrk.txt")   # as wrk prints it, with its unit
# The lag figures, in ms: nearest-rank percentiles over the samples.
read -r LAG_SAMPLES LAG_P50 LAG_P99 LAG_MAX < <(sort -n "$DIR/lag.txt" | awk '
    { v[NR] = $1 } END {
        if (NR == 0) { print 0, "n/a", "n/a", "n/a"; exit }
        p50 = int(NR * 0.50 + 0.999999); p99 = int(NR * 0.99 + 0.999999)
        if (p50 < 1) p50 = 1
        if (p99 > NR) p99 = NR
        print NR, v[p50], v[p99], v[NR] }')
note "$LOAD_REQUESTS charges ($LOAD_RPS/s, $LOAD_BAD errors/non-2xx); lag p50 $LAG_P50 ms, p99 $LAG_P99 ms, max $LAG_MAX ms over $LAG_SAMPLES samples; worker CPU $LOAD_CPU%"

wait_for 60 "the writer group to catch up" drained || die "the outbox did not drain after the load"
sleep 1.5   # the last acknowledgements are in; the rows were committed before them
ROWS_LOADED=$(($(psql_q "SELECT count(*) FROM wallet_transactions") - ROWS_BEFORE_LOAD))
# The bench's own users only (seeded ids are usr_ + hex: safe inside an array literal).
USER_ARRAY="{$(cut -d, -f1 "$DIR/users.csv" | paste -sd, -)}"
PG_SUM=$(psql_q "SELECT coalesce(sum(amount), 0) FROM wallet_transactions WHERE user_id = ANY('$USER_ARRAY'::text[])")
REDIS_SUM=$(outbox balances "$DIR/users.csv")
EXPECTED_LOADED=$((LOAD_REQUESTS - LOAD_BAD))
CONSISTENT="yes"
if [ "$PG_SUM" != "$REDIS_SUM" ]; then CONSISTENT="**no** (PostgreSQL $PG_SUM, Redis $REDIS_SUM)"; fi
note "rows from the load: $ROWS_LOADED for $EXPECTED_LOADED answered charges; sum of amounts = sum of balances: $CONSISTENT"
DEAD=$(metric floodgate_outbox_dead_letters_total)
RETRIES=$(curl -fs --max-time 2 "http://127.0.0.1:$WORKER_PORT/metrics" | awk '/^floodgate_outbox_retries_total/ { s += $2 } END { print s + 0 }')

# --- RESULTS.md ---------------------------------------------------------------------------------------
verdict() { if awk "BEGIN { exit !($1) }"; then echo "met"; else echo "**missed**"; fi; }
section="$DIR/section.md"
{
    echo "<!-- writebehind.sh begin -->"
    echo "## Write-behind: outbox → PostgreSQL (bench/writebehind.sh)"
    echo
    bench_measured redis postgres wrk
    echo
    echo "Redis: $([ "$REDIS_STARTED" -eq 1 ] && echo "config/redis.conf (AOF, appendfsync always)" || echo "$REDIS_URL (given)");" \
        "PostgreSQL: $([ "$PG_STARTED" -eq 1 ] && echo "durable defaults (fsync on, synchronous_commit on)" || echo "$PG_URL (given)")."
    echo "One \`floodgate worker\` (release build, FLOODGATE_WORKER_BATCH=${FLOODGATE_WORKER_BATCH:-1000 (default)}: up to that many entries per stream per transaction), everything on the same $(nproc) cores."
    echo
    echo "| measurement | result |"
    echo "|---|---:|"
    echo "| pre-filled backlog (WALLET_CHARGED via wallet_charge.lua, $USERS users, 16 streams) | $EVENTS events |"
    echo "| drain: worker start → writer group lag 0 and pending 0 on every stream | $drain_seconds s |"
    echo "| **drain rate** | **$DRAIN_RATE events/s** |"
    echo "| transactions for the drain | $DRAIN_BATCHES |"
    echo "| rows added by the drain | $ROWS_DRAINED |"
    echo "| idle worker CPU (5 s, nothing to do) | $IDLE_CPU% of a core |"
    echo "| load: POST /wallet/charge through \`floodgate serve\` for ${LOAD_SECONDS} s | $LOAD_REQUESTS requests, $LOAD_RPS/s, $LOAD_BAD errors, p99 $LOAD_P99 |"
    echo "| **lag p50** (Redis now − oldest unacknowledged event, sampled every 100 ms) | **$LAG_P50 ms** |"
    echo "| **lag p99** | **$LAG_P99 ms** |"
    echo "| lag max ($LAG_SAMPLES samples) | $LAG_MAX ms |"
    echo "| worker CPU during the load | $LOAD_CPU% of a core |"
    echo "| rows from the load / charges wrk saw answered (requests in flight when wrk stops are charged too) | $ROWS_LOADED / $EXPECTED_LOADED |"
    echo "| sum of amounts in PostgreSQL = sum of balances in Redis | $CONSISTENT |"
    echo "| retries / dead letters | ${RETRIES:-0} / ${DEAD:-0} |"
    echo
    echo "- drain ≥ $TARGET_DRAIN events/s (DESIGN.md): $DRAIN_RATE — $(verdict "$DRAIN_RATE >= $TARGET_DRAIN")"
    echo
    echo '```'
    echo "FLOODGATE_WORKER_PORT=$WORKER_PORT ${BIN#"$FLOODGATE_ROOT"/} worker   # after the pre-fill"
    echo "FLOODGATE_THREADS=$THREADS FLOODGATE_PORT=$GATEWAY_PORT ${BIN#"$FLOODGATE_ROOT"/} serve"
    echo "wrk ${LOAD_WRK_ARGS[*]//"$DIR"/\$DIR}   # \$DIR/charge.lua: random seeded user, {\"amount\":3}, delay() ${DELAY_MS} ms"
    echo '```'
    echo "<!-- writebehind.sh end -->"
} >"$section"

bench_publish writebehind.sh "$section" "| measurement"
