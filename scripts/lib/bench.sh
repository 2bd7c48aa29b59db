# shellcheck shell=bash
# shellcheck disable=SC2034  # sets globals the bench scripts read
# Shared by the bench scripts (bench/*.sh): what each of them would otherwise repeat. The set-up and the
# teardown bookkeeping, Redis, PostgreSQL, the gateway, the worker and nginx on free loopback ports, the
# release build, and the RESULTS.md section; wrk runs and CPU figures are in bench_measure.sh.
#
# A bench sources only this file (it sources the other libraries), sets DIR (its data folder, removed at
# exit), registers what its teardown stops and calls bench_traps before it starts anything. The services
# land in globals the bench reads: REDIS_PORT, REDIS_URL, PG_PORT, PG_URL, GATEWAY_PORT, GATEWAY_PID,
# WORKER_PORT, WORKER_PID, NGINX_PORT, NGINX_PID, BIN, NOFILE. Callers run with `set -euo pipefail`.

BENCH_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$BENCH_LIB/common.sh"
source "$BENCH_LIB/packages.sh"
source "$BENCH_LIB/redis.sh"
source "$BENCH_LIB/postgres.sh"
source "$BENCH_LIB/bench_measure.sh"

BENCH_STARTED=$SECONDS
# Set by the bench (bench_pick_ports) or not at all, never taken from the environment.
REDIS_PORT="" PG_PORT="" GATEWAY_PORT="" WORKER_PORT="" NGINX_PORT=""

# --- Teardown -----------------------------------------------------------------------------------------
# Only what this run started is stopped: a registered process whose variable is empty (never started, or
# stopped already with bench_stop) is skipped, and Redis and PostgreSQL only when REDIS_STARTED and
# PG_STARTED say this run started them.

REDIS_STARTED=0
PG_STARTED=0
BENCH_STOP_VARS=() BENCH_STOP_NAMES=() BENCH_STOP_GRACES=()
BENCH_FAILURE_LOGS=()
# A bench that offers BENCH_KEEP=1 (keep DIR for a look afterwards) sets BENCH_KEEPABLE=1.
BENCH_KEEPABLE=0

# bench_stop_at_exit VAR NAME GRACE: at exit, stop the session whose id VAR holds (stop_session … NAME
# GRACE), in the order of registration; VAR starts empty. The running step goes first, Redis and
# PostgreSQL last.
bench_stop_at_exit() {
    printf -v "$1" '%s' ""
    BENCH_STOP_VARS+=("$1") BENCH_STOP_NAMES+=("$2") BENCH_STOP_GRACES+=("$3")
}

# bench_stop VAR: stop that process now, as the teardown would, and empty VAR.
bench_stop() {
    local i
    for i in "${!BENCH_STOP_VARS[@]}"; do
        if [ "${BENCH_STOP_VARS[i]}" = "$1" ]; then
            stop_session "${!1}" "${BENCH_STOP_NAMES[i]}" "${BENCH_STOP_GRACES[i]}"
            printf -v "$1" '%s' ""
            return 0
        fi
    done
    die "bench_stop $1: not registered with bench_stop_at_exit"
}

# bench_show_on_failure NAME LINES: when the bench fails, the last LINES lines of DIR/NAME.log (if any).
bench_show_on_failure() { BENCH_FAILURE_LOGS+=("$1:$2"); }

# bench_traps: the teardown at exit, and on INT, TERM and HUP.
bench_traps() {
    # The script's own stdout and stderr, kept aside: a signal that arrives while a step runs with its
    # output sent to a file (wrk, an HTTP helper) would otherwise send the teardown's messages there too.
    exec 8>&1 9>&2
    trap bench_teardown EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
}

bench_teardown() {
    local status=$? i var entry
    set +e
    trap '' INT TERM HUP PIPE
    exec 1>&8 2>&9
    log "tearing down the bench"
    if [ -n "$BOUNDED_PGID" ]; then stop_session "$BOUNDED_PGID" "running step" 5; fi
    for i in "${!BENCH_STOP_VARS[@]}"; do
        var=${BENCH_STOP_VARS[i]}
        if [ -n "${!var:-}" ]; then stop_session "${!var}" "${BENCH_STOP_NAMES[i]}" "${BENCH_STOP_GRACES[i]}"; fi
    done
    if [ "$REDIS_STARTED" -eq 1 ]; then redis_stop "$DIR/redis" NOSAVE; fi
    if [ "$PG_STARTED" -eq 1 ]; then pg_stop "$DIR/pg"; fi
    if [ "$status" -ne 0 ]; then
        for entry in "${BENCH_FAILURE_LOGS[@]}"; do
            if [ -s "$DIR/${entry%:*}.log" ]; then
                warn "the bench failed; last lines of the ${entry%:*}'s log:"
                tail -n "${entry##*:}" "$DIR/${entry%:*}.log" >&2
            fi
        done
    fi
    if [ "$BENCH_KEEPABLE" = 1 ] && [ "${BENCH_KEEP:-0}" = 1 ]; then
        note "kept $DIR (BENCH_KEEP=1)"
    else
        rm -rf "$DIR"
    fi
    exit "$status"
}

# --- Set-up -------------------------------------------------------------------------------------------

# bench_setup PACKAGE...: the Debian packages the bench needs, Swift on PATH, PostgreSQL's binaries, and
# SCRATCH_ARGS for the build.
bench_setup() {
    log "checking Debian packages"
    ensure_packages "$@"
    ensure_swift_on_path
    pg_find_bindir
    scratch_args
}

# bench_raise_nofile NEEDED CONSEQUENCE: raise the open-files limit (wrk's connections need descriptors
# on both ends, and each process has its own limit) and set NOFILE to it; warn, saying CONSEQUENCE, when
# it stays below NEEDED.
bench_raise_nofile() {
    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    NOFILE=$(ulimit -n)
    if [ "$NOFILE" = "unlimited" ]; then NOFILE=1048576; fi
    if [ "$NOFILE" -lt "$1" ]; then
        warn "open-files limit is $NOFILE (could not raise it to 65536): $2"
    fi
}

# bench_pick_ports VAR...: a free loopback port in each VAR.
bench_pick_ports() {
    local var
    for var in "$@"; do pick_free_port "$var"; done
}

# bench_start_redis: a Redis with the shipped config/redis.conf (AOF, appendfsync always) in DIR/redis,
# on REDIS_PORT; sets REDIS_URL.
bench_start_redis() {
    redis_write_conf "$DIR/redis" "$REDIS_PORT" yes
    REDIS_STARTED=1
    redis_start_daemon "$DIR/redis"
    REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
}

# bench_start_pg PROFILE: a PostgreSQL in DIR/pg (pg_init's PROFILE: "run", durable defaults, or "test",
# no fsync), on PG_PORT, with the floodgate role and database; sets PG_URL.
bench_start_pg() {
    pg_init "$DIR/pg" "$1"
    PG_STARTED=1   # our own fresh folder: whatever runs from it is ours to stop
    pg_start "$DIR/pg" "$PG_PORT"
    pg_ensure_role_and_database "$PG_PORT" floodgate floodgate
    PG_URL="postgresql://floodgate@127.0.0.1:$PG_PORT/floodgate"
}

# bench_start_stores PROFILE: both of the above.
bench_start_stores() {
    log "starting Redis on 127.0.0.1:$REDIS_PORT and PostgreSQL on 127.0.0.1:$PG_PORT"
    bench_start_redis
    bench_start_pg "$1"
}

# bench_build: the release binary in BIN, built from the working tree, or with BENCH_NO_BUILD=1 the one
# already there, as it is. BUILD_NOTE says which, for RESULTS.md.
bench_build() {
    local tree
    BIN="$(scratch_dir)/release/floodgate"
    tree=$(git -C "$FLOODGATE_ROOT" describe --always --dirty 2>/dev/null || echo unknown)
    if [ "${BENCH_NO_BUILD:-0}" = 1 ] && [ -x "$BIN" ]; then
        log "using the existing $BIN as is (BENCH_NO_BUILD=1)"
        BUILD_NOTE="binary built $(date -u -r "$BIN" '+%Y-%m-%d %H:%M UTC'), not rebuilt; working tree at $tree"
    else
        BUILD_NOTE="built from $tree"
        log "building the release binary (swift build -c release --product floodgate)"
        run_bounded 3600 "" swift build -c release --product floodgate "${SCRATCH_ARGS[@]}" || die "the build failed"
    fi
    [ -x "$BIN" ] || die "the build did not produce $BIN"
}

# bench_configure: the settings `floodgate serve` and `floodgate worker` read (REDIS_URL, PG_URL,
# GATEWAY_PORT, THREADS, and WORKER_PORT when the bench picked one), then `floodgate migrate`.
bench_configure() {
    export FLOODGATE_REDIS_URL="$REDIS_URL"
    export FLOODGATE_PG_URL="$PG_URL"
    export FLOODGATE_PORT="$GATEWAY_PORT"
    export FLOODGATE_THREADS="$THREADS"
    if [ -n "$WORKER_PORT" ]; then export FLOODGATE_WORKER_PORT="$WORKER_PORT"; fi
    run_bounded 300 "" "$BIN" migrate || die "floodgate migrate failed"
}

# bench_admin_key: a fresh admin key for this run's gateway, in ADMIN_KEY and FLOODGATE_ADMIN_KEY.
bench_admin_key() {
    ADMIN_KEY=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    export FLOODGATE_ADMIN_KEY="$ADMIN_KEY"
}

# --- The gateway, the worker, nginx -------------------------------------------------------------------

# http_ok PORT PATH: GET PATH on loopback PORT answers 200.
http_ok() { curl -fs --max-time 2 -o /dev/null "http://127.0.0.1:$1$2"; }

# bench_start_gateway PATH: `floodgate serve`, its output in DIR/gateway.log, up once it answers 200 on
# PATH; sets GATEWAY_PID.
bench_start_gateway() {
    start_in_own_group "$BIN" serve >>"$DIR/gateway.log" 2>&1
    GATEWAY_PID=$STARTED_PID
    bench_await_200 "$GATEWAY_PID" "floodgate serve" "the gateway" "$GATEWAY_PORT" "$1"
}

# bench_start_worker: `floodgate worker`, its output in DIR/worker.log, answering 200 on /health of its
# metrics port; sets WORKER_PID.
bench_start_worker() {
    start_in_own_group "$BIN" worker >>"$DIR/worker.log" 2>&1
    WORKER_PID=$STARTED_PID
    bench_await_200 "$WORKER_PID" "floodgate worker" "the worker" "$WORKER_PORT" /health
}

# bench_await_200 PID COMMAND WHO PORT PATH: wait up to 60 s for GET PATH on PORT to answer 200, and
# give up at once when PID exits.
bench_await_200() {
    local deadline=$((SECONDS + 60))
    until http_ok "$4" "$5"; do
        pid_alive "$1" || die "$2 exited during start-up"
        [ "$SECONDS" -lt "$deadline" ] || die "$3 did not answer 200 on $5 within 60 s"
        sleep 0.2
    done
}

# bench_start_nginx METHOD PATH STATUS BODY CONNECTIONS: nginx (2 workers) from
# bench/nginx.conf.template in DIR/nginx, on NGINX_PORT, answering PATH with STATUS and BODY (the
# gateway's own answer, byte for byte), with room for CONNECTIONS clients; up once METHOD PATH answers
# STATUS. Sets NGINX_PID.
bench_start_nginx() {
    local method=$1 path=$2 code=$3 body=$4 connections=$5 ndir="$DIR/nginx" user_directive="" temp_paths=""
    local module tpath template
    # The body goes into the config in single quotes, as is.
    case "$body" in *"'"* | *'$'* | *\\*) die "the body for nginx has characters its config cannot carry as is: $body" ;; esac
    mkdir -p "$ndir"
    # As root, nginx's workers drop to an unprivileged user; as anyone else there is nothing to drop.
    if is_root; then user_directive="user nobody $(id -gn nobody 2>/dev/null || echo nogroup);"; fi
    # Temporary folders inside ndir instead of the compiled-in /var/lib/nginx (not writable for a normal
    # user), for each module this nginx has.
    for module in client_body proxy fastcgi uwsgi scgi; do
        if [ "$module" = client_body ] || ! nginx -V 2>&1 | grep -q -- "--without-http_${module}_module"; then
            tpath="$ndir/tmp-$module"
            mkdir -p "$tpath"
            temp_paths+="    ${module}_temp_path $tpath;"$'\n'
        fi
    done
    if is_root; then chown -R nobody "$ndir"/tmp-* 2>/dev/null || true; fi
    template=$(<"$FLOODGATE_ROOT/bench/nginx.conf.template")
    if [ "$code" != 200 ]; then
        # The shared template answers 200 (the gateway's /health); this answer has another status.
        [[ $template == *"return 200 '@BODY@';"* ]] || die "bench/nginx.conf.template has no \"return 200 '@BODY@';\" to turn into a $code"
        template=${template//"return 200 '@BODY@';"/"return $code '@BODY@';"}
    fi
    template=${template//@USER_DIRECTIVE@/$user_directive}
    template=${template//@NOFILE@/$NOFILE}
    template=${template//@DIR@/$ndir}
    template=${template//@WORKER_CONNECTIONS@/$((connections + 2000))}
    template=${template//@TEMP_PATHS@/${temp_paths%$'\n'}}
    template=${template//@PORT@/$NGINX_PORT}
    template=${template//@PATH@/$path}
    template=${template//@BODY@/$body}
    printf '%s\n' "$template" >"$ndir/nginx.conf"
    nginx -t -q -p "$ndir" -e "$ndir/error.log" -c "$ndir/nginx.conf" || die "nginx rejected $ndir/nginx.conf"
    start_in_own_group nginx -p "$ndir" -e "$ndir/error.log" -c "$ndir/nginx.conf"
    NGINX_PID=$STARTED_PID
    wait_for 20 "nginx on port $NGINX_PORT" bench_answers "$method" "$NGINX_PORT" "$path" "$code" ||
        die "nginx did not start (see $ndir/error.log)"
}

# bench_answers METHOD PORT PATH STATUS: METHOD PATH on loopback PORT answers STATUS.
bench_answers() { [ "$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' -X "$1" "http://127.0.0.1:$2$3")" = "$4" ]; }

# bench_nginx_same_body FILE CURL_ARGS...: nginx's answer to curl CURL_ARGS is byte for byte the gateway's
# answer in FILE.
bench_nginx_same_body() {
    local expected=$1
    shift
    curl -s --max-time 2 -o "$DIR/nginx-body.json" "$@"
    cmp -s "$expected" "$DIR/nginx-body.json" ||
        die "nginx's body differs from the gateway's: '$(cat "$DIR/nginx-body.json")' vs '$(cat "$expected")'"
}

# --- Data and logs ------------------------------------------------------------------------------------

rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }
psql_q() { "$PG_BIN/psql" "$PG_URL" -v ON_ERROR_STOP=1 -qtAX -c "$1"; }

# bench_seed_users COUNT: COUNT users (`floodgate seed users`), `userId,accessToken` lines in
# DIR/users.csv.
bench_seed_users() {
    log "seeding $1 users"
    run_bounded 600 "" "$BIN" seed users --count "$1" --out "$DIR/users.csv" --token-ttl-seconds 7200 \
        >"$DIR/seed.log" 2>&1 || die "floodgate seed users failed: $(tail -n 5 "$DIR/seed.log")"
    [ "$(grep -c , "$DIR/users.csv")" -eq "$1" ] || die "users.csv holds $(grep -c , "$DIR/users.csv") users, not $1"
}

# complaints LOG: how many warnings and errors LOG holds; first_complaint LOG: the first one (200
# characters at most).
complaints() { grep -c -E 'level=(warn|error)' "$1" 2>/dev/null || true; }
first_complaint() { grep -m1 -E 'level=(warn|error)' "$1" 2>/dev/null | cut -c1-200; }

# bench_warn_complaints NAME: a warning, with the first five, when DIR/NAME.log holds warnings or errors.
bench_warn_complaints() {
    local count
    count=$(complaints "$DIR/$1.log")
    if [ "$count" -gt 0 ]; then
        warn "the $1 logged $count warnings or errors; the first ones:"
        grep -E 'level=(warn|error)' "$DIR/$1.log" | head -n 5 >&2
    fi
}

# --- RESULTS.md ---------------------------------------------------------------------------------------

# bench_elapsed: how long the bench has run so far, "1 min 05 s".
bench_elapsed() { awk -v s=$((SECONDS - BENCH_STARTED)) 'BEGIN { printf "%d min %02d s", s / 60, s % 60 }'; }

# bench_measured ITEM...: the first sentence of a section: when, on what machine, and the versions of
# the ITEMs (floodgate, nginx, wrk, redis, postgres) in that order, e.g. "Measured 2025-01-02 03:04 UTC
# on 2 cores, Linux 6.1.0 (CPU model); redis 7.0.15, wrk 4.1.0."
bench_measured() {
    local item versions=""
    for item in "$@"; do versions+="$(bench_version "$item"), "; done
    echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores, Linux $(uname -r)" \
        "($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)); ${versions%, }."
}

# bench_version ITEM: "floodgate 0.1.0 (BUILD_NOTE)", "nginx/1.22.1", "wrk 4.1.0", "redis 7.0.15" or
# "PostgreSQL 15.8". Always succeeds (wrk -v exits 1): a version that cannot be read stays empty.
bench_version() {
    case $1 in
        floodgate) echo "$("$BIN" version 2>/dev/null | head -n 1 || echo 'floodgate (version unknown)') ($BUILD_NOTE)" ;;
        nginx) nginx -v 2>&1 | sed 's/^nginx version: //' || true ;;
        wrk) wrk -v 2>&1 | head -n 1 | awk '{ print $1, $2 }' || true ;;
        redis) echo "redis $(redis-server --version | grep -o 'v=[0-9.]*' | cut -c3-)" ;;
        postgres) echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{ print $3 }')" ;;
        *) die "bench_version: unknown item $1" ;;
    esac
}

# bench_publish NAME SECTION TABLE [ELAPSED]: SECTION (a file between NAME's markers) in place of NAME's
# section of bench/RESULTS.md; then, on stdout, its table (from the line that starts with TABLE to the
# next blank line) and its verdicts (the `- ` lines).
bench_publish() {
    bench_write_section "$1" "$2" "$FLOODGATE_ROOT/bench/RESULTS.md"
    echo
    sed -n "/^$3/,/^\$/p" "$2"
    grep -E '^- ' "$2"
    log "wrote bench/RESULTS.md (section $1)${4:+ in $4}"
}

# bench_write_section NAME SECTION_FILE RESULTS_FILE: put SECTION_FILE (which starts with
# `<!-- NAME begin -->` and ends with `<!-- NAME end -->`) into RESULTS_FILE in place of the old section
# of that name, or append it; every other bench's section is kept as it is.
bench_write_section() {
    local name=$1 section=$2 results=$3
    if [ ! -f "$results" ]; then
        printf '# Benchmark results\n\nWritten by the bench scripts; each rewrites only its own section, between its markers.\n\n' >"$results"
    fi
    if grep -q "^<!-- $name begin -->" "$results" && grep -q "^<!-- $name end -->" "$results"; then
        awk -v section="$section" -v begin="<!-- $name begin -->" -v end="<!-- $name end -->" '
            $0 == begin { while ((getline line < section) > 0) print line; skipping = 1; next }
            $0 == end { skipping = 0; next }
            !skipping { print }' "$results" >"$results.tmp"
    else
        {
            cat "$results"
            if [ -n "$(tail -n 1 "$results")" ]; then echo; fi
            cat "$section"
        } >"$results.tmp"
    fi
    mv "$results.tmp" "$results"
}
