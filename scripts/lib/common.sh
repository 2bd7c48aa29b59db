# shellcheck shell=bash
# Shared helpers for scripts/run, scripts/test and bench/*.sh: logging, URLs, ports, bounded waits, and
# running a long command in a session of its own so that a trap can always stop it and everything it
# spawned (stop_session).
#
# Sourced, never executed. Callers run with `set -euo pipefail`.

# No job control, even if the caller had it: start_in_own_group relies on a background child not being a
# process-group leader (setsid then runs in place and keeps the pid).
set +m

# abspath PATH: PATH made absolute (it need not exist). Services get absolute paths: Redis changes into
# its data folder, and the PostgreSQL commands run from /.
abspath() { realpath -m -- "$1"; }

# The repository root, whatever the caller's working directory.
FLOODGATE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export FLOODGATE_ROOT

log() { printf '==> %s\n' "$*" >&2; }
note() { printf '    %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# Swift lives in /opt/swift on the project's machines; not every shell has it on PATH.
ensure_swift_on_path() {
    if ! command -v swift >/dev/null 2>&1; then
        if [ -x /opt/swift/usr/bin/swift ]; then
            export PATH="$PATH:/opt/swift/usr/bin"
        else
            die "swift is not on PATH (expected the toolchain at /opt/swift/usr/bin)"
        fi
    fi
}

# `--scratch-path DIR` when FLOODGATE_SCRATCH is set, nothing otherwise (SwiftPM's default .build).
# Usage: swift build "${SCRATCH_ARGS[@]}" ...
scratch_args() {
    # shellcheck disable=SC2034  # read by the caller
    SCRATCH_ARGS=()
    if [ -n "${FLOODGATE_SCRATCH:-}" ]; then
        # shellcheck disable=SC2034
        SCRATCH_ARGS=(--scratch-path "$FLOODGATE_SCRATCH")
    fi
}

# The build folder the binaries land in (relative paths are taken from the repository root).
scratch_dir() {
    local dir=${FLOODGATE_SCRATCH:-.build}
    case "$dir" in
        /*) printf '%s\n' "$dir" ;;
        *) printf '%s\n' "$FLOODGATE_ROOT/$dir" ;;
    esac
}

# --- URLs -------------------------------------------------------------------------------------------

# url_port URL DEFAULT: the port of redis://host:port or postgresql://user@host:port/db.
url_port() {
    local rest=${1#*://}
    rest=${rest#*@}    # drop user[:password]@
    rest=${rest%%/*}   # drop /db and anything after
    rest=${rest%%\?*}
    case "$rest" in
        *:*) printf '%s\n' "${rest##*:}" ;;
        *) printf '%s\n' "$2" ;;
    esac
}

# url_host URL: the host of redis://host:port or postgresql://user@host:port/db (IPv6 brackets kept).
url_host() {
    local rest=${1#*://}
    rest=${rest#*@}
    rest=${rest%%/*}
    rest=${rest%%\?*}
    case "$rest" in
        \[*) printf '%s\n' "${rest%%]*}]" ;;
        *) printf '%s\n' "${rest%%:*}" ;;
    esac
}

# url_user URL DEFAULT: the user of postgresql://user@host/db.
url_user() {
    local rest=${1#*://}
    case "$rest" in
        *@*) rest=${rest%%@*}; printf '%s\n' "${rest%%:*}" ;;
        *) printf '%s\n' "$2" ;;
    esac
}

# url_database URL DEFAULT: the database of postgresql://user@host:port/db.
url_database() {
    local rest=${1#*://}
    case "$rest" in
        */?*) rest=${rest#*/}; printf '%s\n' "${rest%%\?*}" ;;
        *) printf '%s\n' "$2" ;;
    esac
}

# --- Ports ------------------------------------------------------------------------------------------
# Read straight from /proc/net/tcp{,6}: no dependency on ss, netstat or python, and it sees IPv4 and IPv6.

# port_listening PORT: true when some socket listens on PORT (any address).
port_listening() {
    local hex
    hex=$(printf ':%04X' "$1")
    # Column 2 is local_address (hex ip:port), column 4 the state; 0A is LISTEN.
    awk -v h="$hex" 'FNR > 1 && substr($2, length($2) - 4) == h && $4 == "0A" { found = 1 }
                     END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# port_used PORT: true when any socket, in any state, has PORT as its local port.
port_used() {
    local hex
    hex=$(printf ':%04X' "$1")
    awk -v h="$hex" 'FNR > 1 && substr($2, length($2) - 4) == h { found = 1 }
                     END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# Ports handed out by pick_free_port in this shell, so two services never get the same one before either
# of them has bound it.
PICKED_PORTS=" "

# pick_free_port VAR: sets VAR to a loopback port nobody uses (not with $(...): the subshell would lose
# PICKED_PORTS). Drawn below the kernel's ephemeral range so that an outgoing connection cannot take it
# between the pick and the bind.
pick_free_port() {
    local low=20000 high=32000 ephemeral_low port tries
    ephemeral_low=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    if [ "$ephemeral_low" -le "$high" ]; then high=$((ephemeral_low - 1)); fi
    if [ "$high" -le "$low" ]; then low=10000; fi
    for ((tries = 0; tries < 500; tries++)); do
        port=$((low + RANDOM % (high - low)))
        case "$PICKED_PORTS" in *" $port "*) continue ;; esac
        if ! port_used "$port"; then
            PICKED_PORTS="$PICKED_PORTS$port "
            printf -v "$1" '%s' "$port"
            return 0
        fi
    done
    die "could not find a free loopback port between $low and $high"
}

# require_port_free PORT WHAT VARIABLE: stop with a clear message when PORT already has a listener.
require_port_free() {
    local port=$1 what=$2 variable=$3 who=""
    if port_listening "$port"; then
        if command -v ss >/dev/null 2>&1; then
            who=$(ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'users:(([^)]*))' | head -1 || true)
        fi
        die "port $port ($what) is already taken${who:+ by $who}. Stop whatever listens there, or choose another port with $variable."
    fi
}

# --- Waiting ----------------------------------------------------------------------------------------

# wait_for SECONDS DESCRIPTION COMMAND...: retry COMMAND every 0.2 s until it succeeds; fail after SECONDS.
wait_for() {
    local seconds=$1 what=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            warn "timed out after ${seconds}s waiting for $what"
            return 1
        fi
        sleep 0.2
    done
}

# pid_alive PID: running (a zombie that nobody has reaped yet counts as gone: it holds no port or file).
pid_alive() {
    [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
    local stat
    { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
    stat=${stat##*) }   # the state letter follows the command name in parentheses
    [ "${stat:0:1}" != "Z" ]
}

# stop_pid PID NAME [GRACE_SECONDS]: SIGTERM, wait up to GRACE seconds, then SIGKILL. Only ever called with
# ids of processes these scripts started.
stop_pid() {
    local pid=$1 name=$2 grace=${3:-10} waited=0
    pid_alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    while pid_alive "$pid" && [ "$waited" -lt $((grace * 5)) ]; do
        sleep 0.2
        waited=$((waited + 1))
    done
    if pid_alive "$pid"; then
        warn "$name (pid $pid) did not stop within ${grace}s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    # Reap it when it is our child, so it does not linger as a zombie.
    wait "$pid" 2>/dev/null || true
}

# session_pids SID: the live processes of session SID (field 6 of /proc/PID/stat), zombies excluded.
session_pids() {
    local sid=$1 file stat fields
    for file in /proc/[0-9]*/stat; do
        { read -r stat <"$file"; } 2>/dev/null || continue
        # After the command name in parentheses: state ppid pgrp session ...
        read -r -a fields <<<"${stat##*) }"
        [ "${fields[3]}" = "$sid" ] && [ "${fields[0]}" != "Z" ] && printf '%s\n' "${file//[^0-9]/}"
    done
    return 0
}

# stop_session SID NAME [GRACE_SECONDS]: SIGTERM every process of a session started by run_bounded or
# start_in_own_group (its id is the leader's pid), wait up to GRACE seconds, then SIGKILL what is left.
# A session and not a process group: `swift test` puts the test binary in a group of its own, and
# SIGTERM to swift-test does not reach it. Daemons that detach themselves (redis-server, the PostgreSQL
# postmaster) leave the session and are stopped by their pid files instead.
stop_session() {
    local sid=$1 name=$2 grace=${3:-10} waited=0 pids
    [ -n "$sid" ] || return 0
    pids=$(session_pids "$sid")
    [ -n "$pids" ] || { wait "$sid" 2>/dev/null || true; return 0; }
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    while [ -n "$(session_pids "$sid")" ] && [ "$waited" -lt $((grace * 5)) ]; do
        sleep 0.2
        waited=$((waited + 1))
    done
    pids=$(session_pids "$sid")
    if [ -n "$pids" ]; then
        warn "$name (session $sid) did not stop within ${grace}s; killing it"
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null || true
    fi
    wait "$sid" 2>/dev/null || true
}

# --- Long commands ----------------------------------------------------------------------------------

# start_in_own_group COMMAND...: start COMMAND in the background in a session of its own and set
# STARTED_PID. The pid is also the session id, so stop_session reaches its children too; and a
# terminal's Ctrl-C reaches only this script, whose trap then stops things in the right order.
# (In a non-interactive shell a background child is not a group leader, so setsid execs in place and
# $! is COMMAND's own pid.)
start_in_own_group() {
    setsid "$@" </dev/null &
    # shellcheck disable=SC2034  # read by the caller
    STARTED_PID=$!
}

# run_bounded SECONDS LOGFILE COMMAND...: run COMMAND to completion, at most SECONDS, in its own process
# group; its output goes to the terminal and, when LOGFILE is not empty, to LOGFILE as well. Returns
# COMMAND's exit status (124 on timeout). While it runs, BOUNDED_PGID names its session, so the caller's
# trap can stop it (stop_session "$BOUNDED_PGID"). Whatever COMMAND leaves running in its session when
# it ends (a test binary orphaned by a killed `swift test`) is stopped before this returns.
BOUNDED_PGID=""
run_bounded() {
    local seconds=$1 logfile=$2 status=0
    shift 2
    # timeout signals its process group on expiry; setsid makes that group (and the session) ours alone.
    if [ -n "$logfile" ]; then
        # shellcheck disable=SC2016  # expanded by the inner bash
        RUN_BOUNDED_LOG=$logfile setsid timeout --kill-after=20 "$seconds" \
            bash -c 'set -o pipefail; "$@" 2>&1 | tee -a "$RUN_BOUNDED_LOG"' run_bounded "$@" \
            </dev/null &
    else
        setsid timeout --kill-after=20 "$seconds" "$@" </dev/null &
    fi
    BOUNDED_PGID=$!
    # In a non-interactive shell, `wait` returns early (status > 128) when a trapped signal arrives; the
    # trap then runs and exits. So reaching the next line means COMMAND finished.
    wait "$BOUNDED_PGID" || status=$?
    stop_session "$BOUNDED_PGID" "leftovers of: $*" 5
    BOUNDED_PGID=""
    if [ "$status" -eq 124 ]; then warn "timed out after ${seconds}s: $*"; fi
    return "$status"
}
