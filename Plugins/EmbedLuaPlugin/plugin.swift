// Turns every lua/*.lua file of the package into Swift source (text + SHA-1) at build time, so the
// binary carries its scripts while each stays a plain file that `redis-cli --eval` can run.
// A newly added .lua file may need `touch Package.swift` in an existing checkout; a fresh clone always builds.
import Foundation
import PackagePlugin

@main
struct EmbedLuaPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let luaDir = context.package.directoryURL.appendingPathComponent("lua")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: luaDir.path)) ?? []
        let inputs = names.filter { $0.hasSuffix(".lua") }.sorted().map { luaDir.appendingPathComponent($0) }
        let output = context.pluginWorkDirectoryURL.appendingPathComponent("EmbeddedLua.swift")
        return [.buildCommand(
            displayName: "Embedding \(inputs.count) Lua scripts",
            executable: try context.tool(named: "EmbedLua").url,
            arguments: [output.path] + inputs.map(\.path),
            inputFiles: inputs,
            outputFiles: [output])]
    }
}
