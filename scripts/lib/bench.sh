# shellcheck shell=bash
# Shared by the bench scripts. Source after common.sh.

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
