import JSON

// A response and its wire form. Bodies are always sent with Content-Length (no chunked responses):
// every API answer is built in memory first.
public struct HTTPResponse {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static let jsonContentType = "application/json; charset=utf-8"

    public static func json(_ status: Int, _ body: [UInt8], headers: [(name: String, value: String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", jsonContentType)] + headers, body: body)
    }

    /// The API's error body: `{"error":{"code":"...","message":"...","details":{...}}}`. `detailsJSON`
    /// is an already-encoded JSON object (the JSON module builds it), or nil for none.
    public static func error(_ status: Int, code: String, message: String, detailsJSON: String? = nil,
                             headers: [(name: String, value: String)] = []) -> HTTPResponse {
        var body = Array("{\"error\":{\"code\":".utf8)
        JSONWriter.appendString(code, into: &body)
        body += Array(",\"message\":".utf8)
        JSONWriter.appendString(message, into: &body)
        if let detailsJSON { body += Array(",\"details\":\(detailsJSON)".utf8) }
        body += Array("}}".utf8)
        return json(status, body, headers: headers)
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// Appends the status line, headers and (unless `omitBody`, for HEAD) the body to `out`.
    public func serialize(into out: inout [UInt8], keepAlive: Bool, http10: Bool = false, omitBody: Bool = false) {
        out.append(contentsOf: (http10 ? "HTTP/1.0 " : "HTTP/1.1 ").utf8)
        out.append(contentsOf: String(status).utf8)
        out.append(0x20)
        out.append(contentsOf: HTTPResponse.reasonPhrase(status).utf8)
        out.append(contentsOf: "\r\nContent-Length: ".utf8)
        out.append(contentsOf: String(body.count).utf8)
        if !keepAlive {
            out.append(contentsOf: "\r\nConnection: close".utf8)
        } else if http10 {
            out.append(contentsOf: "\r\nConnection: keep-alive".utf8)
        }
        for header in headers {
            out.append(13); out.append(10)
            out.append(contentsOf: header.name.utf8)
            out.append(0x3a); out.append(0x20)
            out.append(contentsOf: header.value.utf8)
        }
        out.append(contentsOf: "\r\n\r\n".utf8)
        if !omitBody { out.append(contentsOf: body) }
    }

    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 201: return "Created"
        case 204: return "No Content"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 402: return "Payment Required"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 410: return "Gone"
        case 411: return "Length Required"
        case 413: return "Content Too Large"
        case 415: return "Unsupported Media Type"
        case 422: return "Unprocessable Content"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 503: return "Service Unavailable"
        case 505: return "HTTP Version Not Supported"
        default: return "Status \(status)"
        }
    }
}
