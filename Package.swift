// swift-tools-version:6.0
// Floodgate: no Swift package dependencies. C libraries come in through system-library targets.
import PackageDescription

let package = Package(
    name: "Floodgate",
    products: [
        .executable(name: "floodgate", targets: ["FloodgateCLI"]),
    ],
    targets: [
        // C shims.
        .systemLibrary(name: "CSystem", path: "Sources/CSystem"),  // epoll, eventfd
        .systemLibrary(name: "CHiredis", path: "Sources/CHiredis"),
        .systemLibrary(name: "CCrypt", path: "Sources/CCrypt"),  // libcrypt: yescrypt password hashes
        .systemLibrary(name: "CLibPQ", path: "Sources/CLibPQ", pkgConfig: "libpq",
                       providers: [.apt(["libpq-dev"])]),

        // Lua scripts from lua/, embedded at build time by a build-tool plugin.
        .executableTarget(name: "EmbedLua", path: "Sources/EmbedLua"),
        .plugin(name: "EmbedLuaPlugin", capability: .buildTool(), dependencies: ["EmbedLua"],
                path: "Plugins/EmbedLuaPlugin"),
        .target(name: "Scripts", path: "Sources/Scripts", plugins: ["EmbedLuaPlugin"]),

        // Event loop, system calls, timers, blocking pool, Redis client, logging, metrics primitives.
        .target(name: "Runtime", dependencies: ["CSystem", "CHiredis", "Scripts"]),
        // A strict JSON reader/writer that keeps integers exact (amounts must be JSON integers).
        .target(name: "JSON"),
        // HTTP/1.1 parser (pure), server and router on the Runtime loops.
        .target(name: "HTTP", dependencies: ["Runtime", "CSystem", "JSON"]),
        // PostgreSQL over libpq: connections, a pool off the loops, migrations.
        .target(name: "Persistence", dependencies: ["CLibPQ"]),
        // The waiting queue's domain: event keys, queue settings, queue.lua's Swift side, the admission ticker.
        .target(name: "Queue", dependencies: ["Runtime", "JSON", "Scripts"]),
        // Stock and products: catalog.lua's Swift side, product drafts (orders join it with the flash sale).
        .target(name: "Inventory", dependencies: ["Runtime", "JSON", "Scripts", "Queue"]),
        // The HTTP API: routes, auth gate, handlers.
        .target(name: "Gateway", dependencies: ["Runtime", "HTTP", "JSON", "Persistence", "Scripts", "CCrypt", "Queue", "Inventory"]),
        // The background worker: the outbox write-behind into PostgreSQL, health and metrics.
        .target(name: "Worker", dependencies: ["Runtime", "HTTP", "Persistence", "JSON", "Queue", "Inventory"]),
        // `floodgate storm`: the load generator that drives a running Floodgate over HTTP and checks the invariants.
        .target(name: "Storm", dependencies: ["Runtime", "HTTP", "JSON", "Persistence", "Gateway"]),
        // The thin `floodgate` executable.
        .executableTarget(name: "FloodgateCLI", dependencies: ["Runtime", "HTTP", "Persistence", "Gateway", "Worker", "Storm"],
                          path: "Sources/floodgate"),

        // What the suites share: the test services' addresses (from scripts/test) and small helpers.
        .target(name: "TestSupport", dependencies: ["Runtime", "Gateway", "JSON", "Persistence", "Worker"], path: "Tests/TestSupport"),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime", "Scripts", "TestSupport"]),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "JSON", "Runtime"]),
        .testTarget(name: "JSONTests", dependencies: ["JSON"]),
        .testTarget(name: "PersistenceTests", dependencies: ["Persistence", "TestSupport"]),
        .testTarget(name: "GatewayTests", dependencies: ["Gateway", "Queue", "Inventory", "Worker", "HTTP", "JSON", "Runtime", "Persistence", "TestSupport"]),
        .testTarget(name: "QueueTests", dependencies: ["Queue", "Gateway", "JSON", "Runtime", "Persistence", "Scripts", "Worker", "TestSupport"]),
        .testTarget(name: "StormTests", dependencies: ["Storm", "Gateway", "Worker", "HTTP", "JSON", "Runtime", "Persistence", "TestSupport"]),
        .testTarget(name: "WorkerTests", dependencies: ["Worker", "Gateway", "Queue", "Inventory", "Runtime", "Persistence", "JSON", "Scripts", "TestSupport"]),
    ],
    // Swift 5 mode: the loops are thread-confined by design; strict concurrency checking would need
    // @unchecked annotations everywhere without catching anything the design does not already rule out.
    swiftLanguageModes: [.v5]
)
