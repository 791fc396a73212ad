import Foundation
import Synchronization
import Testing

/// A real container runtime: Debian's podman (with runc: crun refuses this
/// machine's hybrid cgroups; explicit ulimits: the defaults need
/// CAP_SYS_RESOURCE) runs a container from a local busybox image that binds
/// a TCP and a UDP port; bindsnoop names the container as podman knows it
/// (its id from the cgroup, its name and image from podman's storage).
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
        // Below the ephemeral range: the other suites' port-0 binds never take it.
        let port = Int.random(in: 20_000...32_000)
        let cidFile = Harness.temporaryFile("cid")
        defer { try? FileManager.default.removeItem(at: cidFile) }
        // The container's own users, which the host does not have (issue 22: names from the container's files).
        let etc = Harness.temporaryFile("etc")
        try FileManager.default.createDirectory(at: etc, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: etc) }
        try "root:x:0:0::/:/bin/sh\nbinder:x:4242:4343::/:/bin/sh\n".write(to: etc.appending(path: "passwd"), atomically: true, encoding: .utf8)
        try "root:x:0:\nbinders:x:4343:\n".write(to: etc.appending(path: "group"), atomically: true, encoding: .utf8)
        let tracer = try Tracer(["--port", "\(port)"])
        // Started after bindsnoop, with the name podman chooses: its first
        // bind is named from podman's own state (issue 24). Removed after
        // podman inspect has said its name.
        // sh stays a second after the binder exits: a process whose root is the container's.
        let container = try run(Self.podman, ["run", "--cidfile", cidFile.path, "--network", "none", "--user", "4242:4343"]
                                + Self.runOptions
                                + ["-v", "\(binder.path):/bind-tcp-udp:ro", "-v", "\(etc.path)/passwd:/etc/passwd:ro",
                                   "-v", "\(etc.path)/group:/etc/group:ro",
                                   Self.image, "sh", "-c", "/bind-tcp-udp \(port) && sleep 1"])
        #expect(tracer.stop() == 0)
        #expect(container.status == 0, "podman run: \(container.stderr)")
        #expect(container.stdout == "ok \(port)\nok \(port)\n")
        let id = try String(contentsOf: cidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        defer { _ = try? run(Self.podman, ["rm", "-f", id]) }
        let name = try run(Self.podman, ["inspect", "--format", "{{.Name}}", id]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!name.isEmpty)
        let events = tracer.events().filter { $0.path("server.port") as? Int == port && $0.path("process.name") as? String == "bind-tcp-udp" && $0.path("event.action") as? String == "bind" }
        #expect(events.compactMap { $0.path("network.transport") as? String }.sorted() == ["tcp", "udp"])
        for event in events {
            #expect(event.path("container.id") as? String == id, "podman's id \(id)")
            #expect(event.path("container.runtime") as? String == "podman")
            #expect(event.path("container.name") as? String == name, "podman inspect's name for it")
            #expect(event.path("container.image.name") as? String == Self.image, "\(event)")
            #expect(event.path("process.name") as? String == "bind-tcp-udp")
            // The path as the container sees it, through its own root (issue 22).
            #expect(event.path("process.executable") as? String == "/bind-tcp-udp", "\(event)")
            #expect(event.path("process.args") as? [String] == ["/bind-tcp-udp", "\(port)"])
            #expect(event.path("bind.identity.source") as? String == "kernel")
            #expect(event.path("process.user.id") as? String == "4242")
            #expect(event.path("process.user.name") as? String == "binder", "\(event)")
            #expect(event.path("process.group.name") as? String == "binders")
            #expect(event.path("process.parent.name") as? String == "sh")
        }
        try validateAgainstSchema(tracer.lines)
    }

    /// A container holding a TCP listener and a UDP socket, started before
    /// bindsnoop: the inventory lists both with the container's id, the set
    /// the stream gives for the container's network namespace
    /// (Tests/tools/bound-sockets.py) equals what `ss` lists inside it, and
    /// when the container stops, both sockets are released (reported by the
    /// inventory), with their socket ids.
    @Test(.root) func aContainersSocketsAreInTheInventoryAndReleasedWhenItStops() throws {
        try Self.ensureImage()
        let binder = try buildTool("bind-tcp-udp.c", flags: ["-static"], needs: "gcc and libc6-dev")
        let port = Int.random(in: 20_000...32_000)
        let cidFile = Harness.temporaryFile("cid")
        let output = Harness.temporaryFile("container-output")
        defer { for file in [cidFile, output] { try? FileManager.default.removeItem(at: file) } }
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        // In the foreground, its output to a file (no pipe, which conmon would keep open), stopped below.
        let container = Process()
        container.executableURL = Self.podman
        container.arguments = ["run", "--rm", "--cidfile", cidFile.path, "--network", "none"] + Self.runOptions
            + ["-v", "\(binder.path):/bind-tcp-udp:ro", Self.image, "/bind-tcp-udp", "\(port)", "hold"]
        container.standardOutput = try FileHandle(forWritingTo: output)
        container.standardError = container.standardOutput
        container.standardInput = FileHandle.nullDevice
        try container.runUnmasked()
        defer {
            if container.isRunning { kill(container.processIdentifier, SIGKILL) }
            container.waitUntilExit()
        }
        #expect(waitFor(30) { (try? String(contentsOf: output, encoding: .utf8)) == "ok \(port)\nok \(port)\n" },
                "the container bound both: \((try? String(contentsOf: output, encoding: .utf8)) ?? "")")
        let id = try String(contentsOf: cidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let inspected = try run(Self.podman, ["inspect", "--format", "{{.State.Pid}}", id])
        let pid = try #require(Int32(inspected.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(inspected.stderr)")

        let tracer = try Tracer(["--port", "\(port)"])
        defer { tracer.stop() }
        usleep(300_000)
        let compared = try run(URL(fileURLWithPath: "/usr/bin/env"),
                               ["python3", Harness.packageDirectory.appending(path: "Tests/tools/bound-sockets.py").path,
                                tracer.stdoutURL.path, "--pid", "\(pid)"])
        #expect(compared.status == 0, "\(compared.stdout)\(compared.stderr)")
        #expect(compared.stdout.split(separator: "\n").filter { $0.hasPrefix("same:") }.count == 2, "\(compared.stdout)")
        let stopped = try run(Self.podman, ["stop", "-t", "1", id])
        #expect(stopped.status == 0, "podman stop: \(stopped.stderr)")
        container.waitUntilExit()
        usleep(300_000)
        #expect(tracer.stop() == 0, "\(tracer.stderr)")
        let events = tracer.events()
        let inventory = events.filter { $0.path("event.action") as? String == "inventory" }
        #expect(inventory.count == 2, "\(tracer.lines)")
        for line in inventory {
            #expect(line.path("container.id") as? String == id)
            #expect(line.path("process.pid") as? Int == Int(pid))
            #expect(line.path("process.executable") as? String == "/bind-tcp-udp")
            let releases = events.filter { $0.path("event.action") as? String == "release"
                && $0.path("bind.socket_id") as? Int == line.path("bind.socket_id") as? Int }
            #expect(releases.count == 1, "released when the container stopped: \(line)")
            #expect(releases.first?.path("bind.release.reported_by") as? String == "inventory")
            #expect(releases.first?.path("container.id") as? String == id)
        }
        try validateAgainstSchema(tracer.lines)
    }

    /// A Debian 12 base made locally (scripts/debian-base-image: debootstrap
    /// from Debian's mirror, with the libraries bindsnoop links): kept between runs, made when absent.
    static let debianBase = "localhost/bindsnoop-debian-base:bookworm"

    static func ensureDebianBase() throws {
        let made = try run(Harness.packageDirectory.appending(path: "scripts/debian-base-image"), [])
        guard made.status == 0, made.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == debianBase else {
            throw HarnessError.failed("scripts/debian-base-image (debootstrap and podman: install-deps --test installs them): \(made.stderr)")
        }
    }

    /// The image of deploy/Containerfile with the binary built here
    /// (scripts/build-image on the local Debian base), built once per test run.
    static func buildBindsnoopImage() throws -> String {
        let image = "localhost/bindsnoop:test"
        try imageBuild.withLock { built in
            if built { return }
            let result = try run(Harness.packageDirectory.appending(path: "scripts/build-image"), [debianBase],
                                 environment: ["IMAGE": image, "SCRATCH": ".build-image", "PODMAN_OPTIONS": "--runtime runc"])
            try #require(result.status == 0, "scripts/build-image: \(result.stderr.suffix(2000))")
            built = true
        }
        return image
    }
    private static let imageBuild = Mutex(false)

    /// The host's tracefs, which a container sees through its read-only /sys/kernel.
    static func mountTracefs() throws {
        if access("/sys/kernel/tracing/events/syscalls", F_OK) != 0 {
            _ = try run(URL(fileURLWithPath: "/bin/mount"), ["-t", "tracefs", "tracefs", "/sys/kernel/tracing"])
        }
    }

    /// bindsnoop itself in a container, the way the DaemonSet runs it: the
    /// image of deploy/Containerfile (scripts/build-image, from a binary
    /// built here), exactly the DaemonSet's capabilities, no --privileged,
    /// its read-only mounts of /sys/kernel and /sys/fs/cgroup; it sees a bind
    /// made on the host, and its self-check passes inside a pid namespace.
    @Test(.root) func bindsnoopRunsInAContainerWithTheDaemonSetsPrivileges() throws {
        try Self.ensureDebianBase()
        let image = try Self.buildBindsnoopImage()
        let daemonSet = try String(contentsOf: Harness.packageDirectory.appending(path: "deploy/kubernetes/daemonset.yaml"), encoding: .utf8)
        let added = try #require(daemonSet.split(separator: "\n").first { $0.contains("add: [") }, "no capabilities in the DaemonSet")
        let capabilities = added.split(separator: "[")[1].split(separator: "]")[0].split(separator: ",")
            .map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " \"")) }
        #expect(capabilities.contains("BPF") && !capabilities.contains("SYS_ADMIN"))
        try Self.mountTracefs()
        // The same privileges under podman's default seccomp profile, which refuses bpf(2):
        // one line that names the filter and how to lift it, exit 77.
        let confined = try run(Self.podman, ["run", "--rm", "--cap-drop", "ALL"] + capabilities.flatMap { ["--cap-add", $0] } + Self.runOptions
                               + ["-v", "/sys/kernel:/sys/kernel:ro", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:ro", image, "--duration", "1"])
        #expect(confined.status == 77, "\(confined.stderr)")
        let complaint = confined.stderr.split(separator: "\n").filter { $0.contains("error") }
        #expect(complaint.count == 1 && complaint.first?.contains("a seccomp filter is in force") == true, "\(confined.stderr)")
        let port = Int.random(in: 20_000...32_000)
        let container = Process()
        container.executableURL = Self.podman
        container.arguments = ["run", "--rm", "--cap-drop", "ALL"] + capabilities.flatMap { ["--cap-add", $0] } + Self.runOptions
            + ["--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
               "-v", "/sys/kernel:/sys/kernel:ro", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:ro",
               image, "--port", "\(port)", "--duration", "10"]
        let output = Pipe()
        let errors = Harness.temporaryFile("container-stderr")
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        container.standardOutput = output
        container.standardError = try FileHandle(forWritingTo: errors)
        try container.runUnmasked()
        let deadline = Date().addingTimeInterval(20)
        func stderr() -> String { (try? String(contentsOf: errors, encoding: .utf8)) ?? "" }
        while StatusLine.attached(in: stderr()) == nil && container.isRunning && Date() < deadline { usleep(50_000) }
        try #require(StatusLine.attached(in: stderr()) != nil, "bindsnoop in the container: \(stderr())")
        let bind = try run(Harness.bindgen, ["--port", "\(port)"])
        let lines = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .split(separator: "\n").map(String.init)
        container.waitUntilExit()
        #expect(container.terminationStatus == 0, "\(stderr())")
        let events = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let event = try #require(events.first { $0.path("process.pid") as? Int == Int(bind.pid) },
                                 "the host's bind, with the host's pid: \(lines.prefix(3))")
        #expect(event.path("server.port") as? Int == port)
        #expect(stderr().contains("cgroup_bind4"), "NET_ADMIN lets the cgroup hooks load: \(stderr())")
        try validateAgainstSchema(lines)
    }
}
