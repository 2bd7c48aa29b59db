#!/usr/bin/env bash
# Builds the HTTP/JSON libFuzzer target and runs it for SECONDS (default 60).
#
#   fuzz/run.sh 600
#
# The binary (fuzz/HTTPParserFuzz.bin), the working corpus (fuzz/corpus-http/) and any crash
# artifacts (fuzz/crash-*) are git-ignored; the committed seeds live in fuzz/seeds/.
# Exits non-zero if the build fails or libFuzzer finds a crash, a leak, or a timeout.
set -euo pipefail

SECONDS_TO_RUN="${1:-60}"
cd "$(dirname "$0")/.."
ROOT="$PWD"
SWIFTC="${SWIFTC:-$(command -v swiftc || echo /opt/swift/usr/bin/swiftc)}"
BIN="$ROOT/fuzz/HTTPParserFuzz.bin"
CORPUS="$ROOT/fuzz/corpus-http"

# The sources are compiled into one module with the harness: they must not import Foundation/Runtime.
"$SWIFTC" -sanitize=fuzzer,address -parse-as-library -O -g -module-name HTTPParserFuzz \
    Sources/HTTP/HTTPMessage.swift Sources/HTTP/HTTPParser.swift Sources/HTTP/Router.swift \
    Sources/JSON/*.swift fuzz/HTTPParserFuzz.swift -o "$BIN"

mkdir -p "$CORPUS"
cp -n fuzz/seeds/* "$CORPUS"/ 2>/dev/null || true

DICT="$(mktemp)"
trap 'rm -f "$DICT"' EXIT
cat > "$DICT" <<'DICTIONARY'
"GET"
"HEAD"
"POST"
"OPTIONS"
" HTTP/1.1\x0d\x0a"
" HTTP/1.0\x0d\x0a"
"HTTP/2.0"
"\x0d\x0a"
"\x0d\x0a\x0d\x0a"
"Host: a\x0d\x0a"
"Content-Length: "
"Content-Length: 5, 5\x0d\x0a"
"Transfer-Encoding: chunked\x0d\x0a"
"Transfer-Encoding: gzip, chunked\x0d\x0a"
"Connection: close\x0d\x0a"
"Connection: keep-alive\x0d\x0a"
"0\x0d\x0a\x0d\x0a"
";ext=\"v\""
"X-Trailer: t\x0d\x0a"
"/events/1/queue"
"/products/popular"
"%2F"
"%"
"?a=1&b=+x"
"\\u"
"\\uD83D\\uDE00"
"\\uDC00"
"true"
"false"
"null"
"-0"
"1e5"
"9223372036854775808"
"-9223372036854775808"
"\xc3\xa9"
"\xed\xa0\x80"
DICTIONARY

set +e
"$BIN" "$CORPUS" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -timeout=10 -dict="$DICT" \
    -artifact_prefix="$ROOT/fuzz/" -print_final_stats=1
status=$?
set -e
if [ "$status" -ne 0 ]; then
    echo "fuzz: libFuzzer exited with status $status (see fuzz/crash-* / fuzz/timeout-* / fuzz/leak-*)" >&2
fi
exit "$status"
