# shellcheck shell=bash
# Installing what is missing from Debian's packages, and nothing else.
#
# Sourced after common.sh. `apt-get update` runs at most once per script run, and only when something must
# actually be installed.

APT_UPDATED=0

# package_present NAME: installed as a Debian package, or (for the tools we only call) present on PATH
# some other way — a machine that already has a working redis-server from elsewhere needs nothing new.
package_present() {
    if dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; then
        return 0
    fi
    case "$1" in
        redis-server) command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 ;;
        postgresql) compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null ;;
        libhiredis-dev) [ -f /usr/include/hiredis/hiredis.h ] ;;
        libpq-dev) [ -f /usr/include/postgresql/libpq-fe.h ] ;;
        nginx-light) command -v nginx >/dev/null 2>&1 ;;
        curl | wrk | python3) command -v "$1" >/dev/null 2>&1 ;;
        *) return 1 ;;
    esac
}

# ensure_packages NAME...: apt-get install the ones that are missing (as root, or through sudo).
ensure_packages() {
    local missing=() name
    for name in "$@"; do
        package_present "$name" || missing+=("$name")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0

    log "installing missing Debian packages: ${missing[*]}"
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install ${missing[*]} by hand (this script expects Debian 12)"
    local sudo=()
    if ! is_root; then
        command -v sudo >/dev/null 2>&1 || die "installing ${missing[*]} needs root: run as root or install sudo"
        sudo=(sudo)
    fi

    # Installing redis-server, postgresql or nginx would start the system's own services on their default
    # ports (6379, 5432, 80), which are then in our way. Debian's policy-rc.d hook (exit 101 = "do not
    # start") prevents that for the duration of this install; an existing policy is left as it is.
    # Run in a subshell so the temporary policy is removed however the install ends.
    (
        local policy=/usr/sbin/policy-rc.d added=0
        trap '[ "$added" -eq 1 ] && "${sudo[@]}" rm -f "$policy"' EXIT
        trap 'exit 130' INT TERM
        if [ ! -e "$policy" ]; then
            printf '#!/bin/sh\n# temporary, from Floodgate scripts: do not start services while installing\nexit 101\n' |
                "${sudo[@]}" tee "$policy" >/dev/null
            "${sudo[@]}" chmod 755 "$policy"
            added=1
        fi
        if [ "$APT_UPDATED" -eq 0 ]; then
            "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
        fi
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends "${missing[@]}"
    ) || die "could not install ${missing[*]}"
    APT_UPDATED=1
}
