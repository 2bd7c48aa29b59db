// openapi.yaml must describe every route the gateway serves, with its method.
import Foundation
@testable import Gateway
import Runtime
import XCTest

final class OpenAPICoverageTests: XCTestCase {
    func testEveryRouteIsInOpenAPI() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("openapi.yaml"), encoding: .utf8)
        // paths:  "  /route:" lines, then "    get:" style method lines beneath each.
        var documented = Set<String>()
        var currentPath: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("  /"), line.hasSuffix(":") {
                currentPath = String(line.dropFirst(2).dropLast())
            } else if let path = currentPath, line.hasPrefix("    "), !line.hasPrefix("     "),
                      let method = ["get", "post", "put", "patch", "delete"].first(where: { line == "    \($0):" }) {
                documented.insert("\(method.uppercased()) \(path)")
            } else if !line.hasPrefix(" ") && !line.isEmpty {
                currentPath = nil
            }
        }
        var configuration = Configuration()
        configuration.redisURL = "redis://127.0.0.1:1"
        configuration.threads = 1
        let gateway = try Gateway(configuration: configuration)
        defer { gateway.shutdown() }
        let served = Set(gateway.routeTable.routes.map { "\($0.method.name) \($0.pattern)" })
        XCTAssertFalse(served.isEmpty)
        XCTAssertEqual(served.subtracting(documented), [], "routes missing from openapi.yaml")
        XCTAssertEqual(documented.subtracting(served), [], "openapi.yaml documents routes that do not exist")
    }
}
