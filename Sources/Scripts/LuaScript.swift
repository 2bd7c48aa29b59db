// A Lua script from lua/, embedded at build time (see Plugins/EmbedLuaPlugin). The Redis client runs it
// with EVALSHA and falls back to EVAL (which also caches it) on NOSCRIPT.
public struct LuaScript: Sendable, Hashable {
    public let name: String
    public let sha1: String
    public let source: String

    public init(name: String, sha1: String, source: String) {
        self.name = name
        self.sha1 = sha1
        self.source = source
    }

    /// The embedded script named `name` (file name without `.lua`). A missing script is a build error
    /// in spirit, so this traps rather than returning an optional every caller would force-unwrap.
    public static func named(_ name: String) -> LuaScript {
        guard let script = embedded[name] else { fatalError("no lua/\(name).lua embedded in this build") }
        return script
    }
}

/// A script answered something its Swift side does not know: the two disagree, which is a bug. Callers
/// turn it into a 500 that is logged with the reply.
public struct ScriptReplyError: Error, CustomStringConvertible {
    public let script: String
    public let reply: String

    public init(_ script: String, reply: String) {
        self.script = script
        self.reply = reply
    }

    public var description: String { "unexpected reply from \(script).lua: \(reply)" }
}
