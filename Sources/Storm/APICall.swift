// One request to the Floodgate API as the storm sends it, and its answer. `operation` names the route
// ("POST /orders") so the report counts answers per route, not per URL with ids in it.
import HTTP
import JSON

public struct APICall {
    public var method: HTTPMethod
    public var path: String
    public var operation: String
    public var headers: [(name: String, value: String)] = []
    public var body: [UInt8] = []

    public init(_ method: HTTPMethod, _ path: String, operation: String? = nil, token: String? = nil,
                adminKey: String? = nil, headers: [(name: String, value: String)] = [], json: JSONValue? = nil) {
        self.method = method
        self.path = path
        self.operation = operation ?? "\(method.name) \(path)"
        if let token { self.headers.append(("Authorization", "Bearer \(token)")) }
        if let adminKey { self.headers.append(("X-Admin-Key", adminKey)) }
        self.headers += headers
        if let json {
            self.headers.append(("Content-Type", "application/json"))
            body = json.jsonBytes
        }
    }

    var request: HTTPClientRequest {
        HTTPClientRequest(method: method, target: path, headers: headers, body: body)
    }
}

public struct APIResponse {
    public let status: Int
    public let body: [UInt8]

    public var json: JSONValue? { try? JSONParser.parse(body) }
    /// `error.code` of an error answer.
    public var errorCode: String? { json?["error"]?["code"]?.stringValue }
    public var text: String { String(decoding: body.prefix(300), as: UTF8.self) }
}

/// What a call came to: an answer, or no answer at all (refused, timed out, closed).
public typealias APIOutcome = Result<APIResponse, HTTPClientError>

extension JSONValue {
    var jsonBytes: [UInt8] {
        var out: [UInt8] = []
        JSONWriter.serialize(self, into: &out)
        return out
    }
}
