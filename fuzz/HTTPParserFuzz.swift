// libFuzzer target for the socket-free protocol code: HTTPParser (whole vs split feeding), Router,
// percent/query decoding, and the JSON reader/writer.
//
// Built by fuzz/run.sh straight from the sources (one module, no SwiftPM), which is why those files
// import neither Foundation nor Runtime. Any invariant violation calls fatalError, which libFuzzer
// reports as a crash with the input saved under fuzz/crash-*.
//
// Invariants:
// - HTTP: the same bytes fed whole, split at a few input-derived points, and (for short inputs) one
//   byte at a time give the same requests, the same error, and the same leftover state; an error's
//   status is one of 400/411/413/431/501/505; every request respects the limits and its target shape.
//   Run with the default limits and with tiny ones so the limit paths are reached too.
// - JSON: a parsed value re-encodes to text that parses to an equal value and re-encodes
//   byte-identically; a value only parses from valid UTF-8; any string survives a write/read trip.

struct Outcome: Equatable {
    var requests: [HTTPRequest] = []
    var error: HTTPParseError?
    var bufferedByteCount = 0
    var hasPartialRequest = false
}

let allowedStatuses: Set<Int> = [400, 411, 413, 431, 501, 505]

func check(_ request: HTTPRequest, _ limits: HTTPLimits) {
    guard request.version == .http10 || request.version == .http11 else { fatalError("version \(request.version)") }
    guard request.headers.count <= limits.maxHeaderCount else { fatalError("too many headers") }
    guard request.body.count <= limits.maxBodyBytes else { fatalError("body over limit") }
    if request.method == .GET || request.method == .HEAD, !request.body.isEmpty { fatalError("GET/HEAD body kept") }
    if request.target == "*" {
        guard request.method == .OPTIONS, request.path == "*" else { fatalError("'*' target") }
    } else {
        guard request.path.hasPrefix("/") else { fatalError("path \(request.path)") }
        let rebuilt = request.query.isEmpty && !request.target.hasSuffix("?")
            ? request.path : request.path + "?" + request.query
        guard rebuilt == request.target else { fatalError("target split \(request.target)") }
    }
    if request.version == .http11 && !request.headers.contains("Host") { fatalError("no Host") }
    if request.headers.contains("Content-Length") && request.headers.contains("Transfer-Encoding") {
        fatalError("CL and TE accepted")
    }
}

func parse(_ input: UnsafeRawBufferPointer, cuts: [Int], limits: HTTPLimits) -> Outcome {
    var parser = HTTPParser(limits: limits)
    var outcome = Outcome()
    var start = 0
    feeding: for cut in cuts + [input.count] where cut >= start && cut <= input.count {
        parser.append(UnsafeRawBufferPointer(rebasing: input[start ..< cut]))
        start = cut
        do {
            while let request = try parser.nextRequest() {
                check(request, limits)
                outcome.requests.append(request)
            }
        } catch let error as HTTPParseError {
            guard allowedStatuses.contains(error.status) else { fatalError("status \(error.status)") }
            // A failed parser must stay failed.
            do {
                _ = try parser.nextRequest()
                fatalError("parser recovered after \(error)")
            } catch let again as HTTPParseError {
                guard again == error else { fatalError("different error after failure") }
            } catch { fatalError("unexpected error type") }
            outcome.error = error
            break feeding
        } catch {
            fatalError("unexpected error type \(error)")
        }
    }
    if outcome.error == nil {
        outcome.bufferedByteCount = parser.bufferedByteCount
        outcome.hasPartialRequest = parser.hasPartialRequest
        guard parser.bufferedByteCount <= input.count else { fatalError("buffered more than fed") }
    }
    return outcome
}

func fuzzHTTP(_ input: UnsafeRawBufferPointer, limits: HTTPLimits) {
    let whole = parse(input, cuts: [], limits: limits)
    let n = input.count
    var splits: [[Int]] = [[n / 2], [1, n - 1], [n / 3, 2 * n / 3]]
    if n > 0 {
        // Cut points that depend on the content, so the fuzzer can steer them.
        let seed = Int(input[0]) &* 31 &+ Int(input[n - 1])
        splits.append([seed % (n + 1), (seed &* 7) % (n + 1)].sorted())
    }
    if n <= 512 { splits.append(Array(0 ..< n)) }
    for cuts in splits {
        let split = parse(input, cuts: cuts.map { max(0, min($0, n)) }, limits: limits)
        guard split == whole else {
            fatalError("split feeding \(cuts) differs: whole \(whole.requests.count) requests, error \(String(describing: whole.error)); split \(split.requests.count) requests, error \(String(describing: split.error))")
        }
    }
    for request in whole.requests { route(request) }
}

struct Routes {
    static let router: Router<Int> = {
        var router = Router<Int>()
        router.add(.GET, "/health", 1)
        router.add(.GET, "/products/{productId}", 2)
        router.add(.GET, "/products/popular", 3)
        router.add(.POST, "/events/{eventId}/queue", 4)
        router.add(.GET, "/events/{eventId}/queue", 5)
        router.add(.POST, "/performances/{performanceId}/seats/{seatNo}/hold", 6)
        router.add(.GET, "/", 7)
        return router
    }()
}

func route(_ request: HTTPRequest) {
    switch Routes.router.match(request.method, path: request.path) {
    case .found(_, let parameters, let pattern):
        for (name, value) in parameters {
            guard pattern.contains("{\(name)}") else { fatalError("parameter \(name) not in \(pattern)") }
            _ = value
        }
    case .methodNotAllowed(let allowed):
        guard !allowed.isEmpty, !allowed.contains(request.method) else { fatalError("405 lists \(request.method)") }
    case .notFound:
        break
    }
    _ = percentDecode(request.path[...])
    _ = parseQuery(request.query)
}

func fuzzJSON(_ input: UnsafeRawBufferPointer) {
    if let value = try? JSONParser.parse(input) {
        guard String(validating: input, as: UTF8.self) != nil else { fatalError("accepted invalid UTF-8") }
        let encoded = value.encoded()
        let again: JSONValue
        do { again = try JSONParser.parse(encoded) } catch { fatalError("re-parse failed: \(error)") }
        guard again == value else { fatalError("round trip changed the value") }
        guard again.encoded() == encoded else { fatalError("encoding not stable") }
    }
    // Any string (here: the input with invalid UTF-8 repaired) must survive the writer and reader.
    let text = String(decoding: input, as: UTF8.self)
    var out: [UInt8] = []
    JSONWriter.appendString(text, into: &out)
    guard (try? JSONParser.parse(out)) == .string(text) else { fatalError("string write/read trip failed") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    fuzzHTTP(input, limits: HTTPLimits())
    fuzzHTTP(input, limits: HTTPLimits(maxHeaderBytes: 96, maxHeaderCount: 3, maxBodyBytes: 24))
    fuzzJSON(input)
    return 0
}
