# shellcheck shell=bash
# shellcheck disable=SC2034  # sets globals the bench scripts read
# The measuring half of the bench library (sourced by bench.sh): wrk runs and their figures, the sums
# behind the gateway-vs-nginx means, and CPU time read from /proc.

# --- wrk ----------------------------------------------------------------------------------------------

# Decimals of the milliseconds to_ms gives (a bench whose tables show two sets 2).
BENCH_MS_DECIMALS=3

# to_ms VALUE: wrk's "850.00us", "1.20ms", "2.01s", "1.00m" in milliseconds.
to_ms() {
    awk -v v="$1" -v format="%.${BENCH_MS_DECIMALS}f" 'BEGIN {
        n = v + 0; unit = v; sub(/^[0-9.]+/, "", unit)
        if (unit == "us") n /= 1000; else if (unit == "s") n *= 1000; else if (unit == "m") n *= 60000
        printf format, n }'
}

# seconds_of VALUE: wrk's duration ("10s", "2m", "1h", or a bare number of seconds) in whole seconds,
# rounded up.
seconds_of() {
    awk -v d="$1" 'BEGIN {
        n = d + 0; unit = d; sub(/^[0-9.]+/, "", unit)
        if (unit == "m") n *= 60; else if (unit == "h") n *= 3600
        printf "%d", (n == int(n)) ? n : int(n) + 1 }'
}

# bench_wrk LABEL OUT SECONDS WRK_ARGUMENTS...: one wrk run, SECONDS at most; its output (stdout and
# stderr) in OUT. Sets WRK_RPS (rounded) and WRK_RPS_EXACT (as wrk printed it), WRK_REQUESTS (answers
# read), WRK_P50, WRK_P90, WRK_P99 and WRK_MAX (ms), WRK_NON2XX, WRK_2XX, WRK_SOCKET (socket errors),
# WRK_STATUS_TEXT (what a wrk script printed as `status CODE COUNT` lines: "201: 5, 409: 7") and
# WRK_END (the time wrk exited). The command, with DIR written $DIR, goes into COMMANDS, "   # LABEL"
# after it.
COMMANDS=()
bench_wrk() {
    local label=$1 out=$2 seconds=$3
    shift 3
    # The end is stamped by the same session the moment wrk exits (not after run_bounded's clean-up).
    # shellcheck disable=SC2016  # expanded by the inner bash
    run_bounded "$seconds" "" bash -c '"${@:2}"; s=$?; date +%s.%N >"$1"; exit $s' run-wrk "$out.end" wrk "$@" \
        >"$out" 2>&1 || die "wrk failed against $label: $(cat "$out")"
    WRK_END=$(cat "$out.end")
    WRK_RPS_EXACT=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
    WRK_RPS=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
    WRK_REQUESTS=$(awk '/requests in/ { print $1 }' "$out")
    if [ -z "$WRK_RPS_EXACT" ] || [ -z "$WRK_REQUESTS" ]; then die "could not read wrk's output: $(cat "$out")"; fi
    WRK_P50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
    WRK_P90=$(to_ms "$(awk '$1 == "90%" { print $2 }' "$out")")
    WRK_P99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
    WRK_MAX=$(to_ms "$(awk '$1 == "Latency" && NF >= 4 { print $4; exit }' "$out")")
    WRK_SOCKET=$(awk '/Socket errors:/ { gsub(/,/, ""); s += $4 + $6 + $8 + $10 } END { print s + 0 }' "$out")
    WRK_NON2XX=$(awk '/Non-2xx or 3xx responses:/ { s += $5 } END { print s + 0 }' "$out")
    WRK_2XX=$((WRK_REQUESTS - WRK_NON2XX))
    WRK_STATUS_TEXT=$(awk '$1 == "status" { printf "%s%s: %s", sep, $2, $3; sep = ", " }' "$out")
    COMMANDS+=("wrk ${*//"$DIR"/\$DIR}   # $label")
}

# The sums behind the means, by key ("gateway", "nginx 1000", …), for bench_add and bench_compare.
declare -A SUM_RPS=() SUM_P50=() MAX_P99=() REQUESTS=()

# bench_add KEY [RPS]: the last wrk run into KEY's sums: requests/s (RPS, or WRK_RPS), p50, the worst
# p99 and the answers.
bench_add() {
    local key=$1 rps=${2:-$WRK_RPS}
    SUM_RPS[$key]=$(awk -v a="${SUM_RPS[$key]:-0}" -v b="$rps" 'BEGIN { print a + b }')
    SUM_P50[$key]=$(awk -v a="${SUM_P50[$key]:-0}" -v b="$WRK_P50" 'BEGIN { print a + b }')
    MAX_P99[$key]=$(awk -v a="${MAX_P99[$key]:-0}" -v b="$WRK_P99" 'BEGIN { print (b > a) ? b : a }')
    REQUESTS[$key]=$((${REQUESTS[$key]:-0} + WRK_REQUESTS))
}

# bench_compare GATEWAY_KEY NGINX_KEY: the means over ROUNDS runs of each: G_RPS and N_RPS, RATIO
# (gateway/nginx), G_P50 and N_P50 (ms), and the worst p99s, G_P99_WORST and N_P99_WORST (ms).
bench_compare() {
    G_RPS=$(awk -v s="${SUM_RPS[$1]}" -v r="$ROUNDS" 'BEGIN { printf "%.0f", s / r }')
    N_RPS=$(awk -v s="${SUM_RPS[$2]}" -v r="$ROUNDS" 'BEGIN { printf "%.0f", s / r }')
    RATIO=$(awk -v a="$G_RPS" -v b="$N_RPS" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')
    G_P50=$(awk -v s="${SUM_P50[$1]}" -v r="$ROUNDS" 'BEGIN { printf "%.2f", s / r }')
    N_P50=$(awk -v s="${SUM_P50[$2]}" -v r="$ROUNDS" 'BEGIN { printf "%.2f", s / r }')
    G_P99_WORST=$(awk -v v="${MAX_P99[$1]}" 'BEGIN { printf "%.2f", v }')
    N_P99_WORST=$(awk -v v="${MAX_P99[$2]}" 'BEGIN { printf "%.2f", v }')
}

# --- CPU ----------------------------------------------------------------------------------------------

HZ=$(getconf CLK_TCK)

# cpu_ticks PID: the CPU time PID has used so far (user + system, in ticks); 0 once it is gone.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# session_ticks SID: the same for every live process of session SID (nginx's master and workers).
session_ticks() {
    local pid total=0
    for pid in $(session_pids "$1"); do total=$((total + $(cpu_ticks "$pid"))); done
    echo "$total"
}

# cpu_pct TICKS SECONDS [DECIMALS]: TICKS over SECONDS, in % of one core (no decimals unless given).
cpu_pct() {
    awk -v t="$1" -v hz="$HZ" -v s="$2" -v format="%.${3:-0}f" 'BEGIN { printf format, (s > 0) ? t / hz / s * 100 : 0 }'
}

# cpu_us TICKS N: TICKS per answer, in µs.
cpu_us() { awk -v t="$1" -v hz="$HZ" -v n="$2" 'BEGIN { printf "%.1f", (n > 0) ? t / hz / n * 1e6 : 0 }'; }
