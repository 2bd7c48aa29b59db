#!/usr/bin/env bash
# The outage commands scripts/test hands to the suites (FLOODGATE_TEST_REDIS_RESTART_CMD,
# FLOODGATE_TEST_PG_RESTART_CMD). Each returns only when the service answers again.
#
#   restart.sh redis DIR           SIGKILL the Redis described by DIR/redis.conf, start it again on the
#                                  same port; a cluster node keeps its slots (nodes.conf is in DIR)
#   restart.sh postgres DIR PORT   fast-restart the PostgreSQL cluster in DIR on PORT
#   restart.sh postgres-stop DIR   stop it (FLOODGATE_TEST_PG_STOP_CMD: an outage that lasts)
#   restart.sh postgres-start DIR PORT  start it again (FLOODGATE_TEST_PG_START_CMD)
set -euo pipefail

# The services restarted here outlive this command. They must not inherit the caller's descriptors:
# Foundation's Process (which the suites use to run this) learns that its child ended when every copy of
# a socket it handed down is closed, so a daemon holding one would make the test wait forever. Keep only
# stdin/stdout/stderr (and 255, where bash reads this script from).
for fd in "/proc/$$/fd/"*; do
    fd=${fd##*/}
    if [ "$fd" -gt 2 ] && [ "$fd" -ne 255 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
done

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/common.sh"
source "$here/redis.sh"
source "$here/postgres.sh"

case "${1:-}" in
    redis)
        [ "$#" -eq 2 ] || die "usage: $0 redis DIR"
        redis_crash_and_restart "$2"
        ;;
    postgres)
        [ "$#" -eq 3 ] || die "usage: $0 postgres DIR PORT"
        pg_restart "$2" "$3"
        ;;
    postgres-stop)
        [ "$#" -eq 2 ] || die "usage: $0 postgres-stop DIR"
        pg_stop "$2"
        ;;
    postgres-start)
        [ "$#" -eq 3 ] || die "usage: $0 postgres-start DIR PORT"
        pg_start "$2" "$3"
        ;;
    *) die "usage: $0 redis DIR | postgres DIR PORT | postgres-stop DIR | postgres-start DIR PORT" ;;
esac
