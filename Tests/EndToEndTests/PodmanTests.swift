import Foundation
import Testing

/// A real container runtime: Debian's podman (with runc: crun refuses this
/// machine's hybrid cgroups; explicit ulimits: the defaults need
/// CAP_SYS_RESOURCE) runs a container from a local busybox image that binds
/// a TCP and a UDP port; bindsnoop names the container as podman knows it.
@Suite(.serialized) struct PodmanTests {
    static let podman = URL(fileURLWithPath: "/usr/bin/podman")
    static let image = "localhost/bindsnoop-test-base:latest"
    static let runOptions = ["--runtime", "runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1000:1000"]

    /// The base image, built once from busybox-static's binary (no registry
    /// here): kept between runs, built again when absent.
    static func ensureImage() throws {
        if try run(podman, ["image", "exists", image]).status == 0 { return }
        let root = Harness.temporaryFile("busybox-root")
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root.appending(path: "bin"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: root.appending(path: "bin/busybox").path)
        for tool in ["sh", "sleep", "cat", "ls"] {
            try FileManager.default.createSymbolicLink(atPath: root.appending(path: "bin/\(tool)").path, withDestinationPath: "busybox")
        }
        let built = try run(URL(fileURLWithPath: "/bin/sh"), ["-c", "tar -C '\(root.path)' -c . | podman import - \(image)"])
        guard built.status == 0 else { throw HarnessError.failed("podman import: \(built.stderr)") }
    }

    @Test(.root) func containerBindsCarryPodmansContainerID() throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.podman.path), "podman: scripts/install-deps --test installs it")
        try Self.ensureImage()
        let binder = try buildTool("bind-tcp-udp.c", flags: ["-static"], needs: "gcc and libc6-dev")
        let port = Int.random(in: 20_000...59_999)
        let cidFile = Harness.temporaryFile("cid")
        defer { try? FileManager.default.removeItem(at: cidFile) }
        let tracer = try Tracer(["--port", "\(port)"])
        let container = try run(Self.podman, ["run", "--rm", "--cidfile", cidFile.path, "--network", "none"] + Self.runOptions
                                + ["-v", "\(binder.path):/bind-tcp-udp:ro", Self.image, "/bind-tcp-udp", "\(port)"])
        #expect(tracer.stop() == 0)
        #expect(container.status == 0, "podman run: \(container.stderr)")
        #expect(container.stdout == "ok \(port)\nok \(port)\n")
        let id = try String(contentsOf: cidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let events = tracer.events().filter { $0.path("server.port") as? Int == port }
        #expect(events.compactMap { $0.path("network.transport") as? String }.sorted() == ["tcp", "udp"])
        for event in events {
            #expect(event.path("container.id") as? String == id, "podman's id \(id)")
            #expect(event.path("container.runtime") as? String == "podman")
            #expect(event.path("process.name") as? String == "bind-tcp-udp")
        }
        try validateAgainstSchema(tracer.lines)
    }
}
