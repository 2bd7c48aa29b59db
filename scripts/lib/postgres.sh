# shellcheck shell=bash
# A project-local PostgreSQL cluster: initdb into a folder of ours, trust auth on loopback only, TCP only
# (no Unix socket, so nothing collides with the system's /var/run/postgresql), started and stopped with
# pg_ctl. Never the system's own PostgreSQL service.
#
# PostgreSQL refuses to run as root. When these scripts run as root, the data folder belongs to the
# `postgres` system user (created by Debian's postgresql package) and every server command runs through
# `runuser -u postgres --`. As any other user, the server runs as that user.
#
# Sourced after common.sh.

# pg_find_bindir: sets PG_BIN to the server's bin folder (Debian keeps it out of PATH), preferring 15.
pg_find_bindir() {
    if [ -x /usr/lib/postgresql/15/bin/initdb ]; then
        PG_BIN=/usr/lib/postgresql/15/bin
    else
        PG_BIN=$(compgen -G '/usr/lib/postgresql/*/bin' | sort -V | tail -n 1 || true)
        if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
            die "PostgreSQL server binaries not found under /usr/lib/postgresql (is the postgresql package installed?)"
        fi
    fi
}

# pg_as_owner COMMAND...: run COMMAND as the user that owns the server's files. From / so that the
# postgres user never trips over a working directory it cannot enter.
pg_as_owner() {
    if is_root; then
        id postgres >/dev/null 2>&1 || die "there is no 'postgres' system user (the postgresql package creates it)"
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

# pg_make_traversable DIR: as root, the postgres user must be able to walk down to DIR. Give the search
# (x) bit — only that — to any parent folder it cannot enter, and say so.
pg_make_traversable() {
    is_root || return 0
    local path=$1 parents=() parent i
    parent=$(dirname "$path")
    while [ "$parent" != "/" ]; do
        parents+=("$parent")
        parent=$(dirname "$parent")
    done
    # From the top down: a folder is only reachable once every folder above it is.
    for ((i = ${#parents[@]} - 1; i >= 0; i--)); do
        if ! runuser -u postgres -- test -x "${parents[i]}" 2>/dev/null; then
            note "letting the postgres user pass through ${parents[i]} (chmod o+x)"
            chmod o+x "${parents[i]}"
        fi
    done
}

# pg_init DIR PROFILE: initdb DIR once (skipped when it already holds a cluster). PROFILE is "run" (durable
# defaults) or "test" (no fsync: a test cluster is thrown away).
pg_init() {
    local dir=$1 profile=$2
    dir=$(abspath "$dir")
    pg_find_bindir
    mkdir -p "$dir"
    pg_make_traversable "$dir"
    if is_root; then
        chown -R postgres:postgres "$dir"
    elif [ ! -O "$dir" ]; then
        die "$dir belongs to $(stat -c %U "$dir") (an earlier run as root?); remove it or run as root"
    fi
    chmod 700 "$dir"
    [ -f "$dir/PG_VERSION" ] && return 0

    note "initdb $dir"
    if ! pg_as_owner "$PG_BIN/initdb" -D "$dir" -U postgres --auth=trust --encoding=UTF8 --locale=C \
        >"$dir.initdb.log" 2>&1; then
        cat "$dir.initdb.log" >&2
        die "initdb failed for $dir"
    fi
    rm -f "$dir.initdb.log"
    # Appended settings win over the defaults above them. The port is given at each start instead (-p),
    # so the same cluster can be started on another port.
    {
        echo
        echo "# --- Floodgate (scripts/lib/postgres.sh) ---"
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = ''"
        echo "max_connections = 200"
        if [ "$profile" = "test" ]; then
            # A test cluster lives for one run: durability buys nothing there.
            echo "fsync = off"
            echo "synchronous_commit = off"
            echo "full_page_writes = off"
        fi
    } | pg_as_owner tee -a "$dir/postgresql.conf" >/dev/null
}

pg_ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$1"; }

# pg_start DIR PORT: start the cluster in DIR on PORT and wait until it accepts connections. pg_ctl
# detaches the server into its own session, so a terminal's Ctrl-C does not reach it: we stop it ourselves.
pg_start() {
    local dir=$1 port=$2
    dir=$(abspath "$dir")
    pg_find_bindir
    if ! pg_as_owner "$PG_BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -o "-p $port" -w -t 60 start >/dev/null; then
        tail -n 20 "$dir/server.log" >&2 2>/dev/null || true
        die "PostgreSQL did not start on port $port (log: $dir/server.log)"
    fi
    wait_for 30 "PostgreSQL on port $port to accept connections" pg_ready "$port" ||
        die "PostgreSQL on port $port does not accept connections"
}

# pg_stop DIR: a fast shutdown (open sessions are cut, everything committed is on disk); immediate only if
# that hangs. A folder without a running server is left alone.
pg_stop() {
    local dir=$1
    dir=$(abspath "$dir")
    [ -f "$dir/postmaster.pid" ] || return 0
    pg_find_bindir
    pg_as_owner "$PG_BIN/pg_ctl" -D "$dir" -m fast -w -t 30 stop >/dev/null 2>&1 ||
        pg_as_owner "$PG_BIN/pg_ctl" -D "$dir" -m immediate -w -t 30 stop >/dev/null 2>&1 ||
        warn "could not stop the PostgreSQL in $dir"
}

# pg_restart DIR PORT: what FLOODGATE_TEST_PG_RESTART_CMD does: a fast restart, then wait for connections.
pg_restart() {
    local dir=$1 port=$2
    dir=$(abspath "$dir")
    pg_find_bindir
    pg_as_owner "$PG_BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -o "-p $port" -m fast -w -t 60 restart >/dev/null ||
        return 1
    wait_for 30 "PostgreSQL on port $port to accept connections" pg_ready "$port"
}

# pg_ensure_role_and_database PORT ROLE DATABASE: a login role and a database it owns, both created once.
pg_ensure_role_and_database() {
    local port=$1 role=$2 database=$3
    local psql=("$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA)
    if [ -z "$("${psql[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = '$role'")" ]; then
        "${psql[@]}" -c "CREATE ROLE \"$role\" LOGIN CREATEDB" >/dev/null
    fi
    if [ -z "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$database'")" ]; then
        "${psql[@]}" -c "CREATE DATABASE \"$database\" OWNER \"$role\"" >/dev/null
    fi
}
