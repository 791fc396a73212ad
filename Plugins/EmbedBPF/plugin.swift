import Foundation
import PackagePlugin

/// Compiles every `bpf/*.bpf.c` of the package with the toolchain's clang
/// (`-target bpf -g -O2`; BTF is required for CO-RE) and turns each object
/// into a Swift file holding it as base64, so `swift build` alone produces
/// an executable that carries its kernel program.
@main
struct EmbedBPF: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let bpfDirectory = context.package.directoryURL.appending(path: "bpf")
        let files = try FileManager.default.contentsOfDirectory(at: bpfDirectory, includingPropertiesForKeys: nil)
        let headers = files.filter { $0.pathExtension == "h" }
        let sources = files.filter { $0.lastPathComponent.hasSuffix(".bpf.c") }.sorted { $0.path < $1.path }
        let clang = try context.tool(named: "clang").url
        let embed = try context.tool(named: "bpf-embed").url
        let work = context.pluginWorkDirectoryURL

        return sources.flatMap { source -> [Command] in
            let stem = String(source.lastPathComponent.dropLast(".bpf.c".count))
            let object = work.appending(path: "\(stem).bpf.o")
            let swiftFile = work.appending(path: "\(stem)BPFObject.swift")
            return [
                .buildCommand(
                    displayName: "Compiling BPF program \(source.lastPathComponent)",
                    executable: clang,
                    arguments: [
                        "-target", "bpf", "-D__TARGET_ARCH_x86", "-g", "-O2", "-Wall", "-Werror",
                        "-I/usr/include/x86_64-linux-gnu", "-I\(bpfDirectory.path)",
                        "-c", source.path, "-o", object.path,
                    ],
                    inputFiles: [source] + headers,
                    outputFiles: [object]
                ),
                .buildCommand(
                    displayName: "Embedding BPF object \(stem).bpf.o",
                    executable: embed,
                    arguments: [object.path, swiftFile.path, stem],
                    inputFiles: [object],
                    outputFiles: [swiftFile]
                ),
            ]
        }
    }
}
