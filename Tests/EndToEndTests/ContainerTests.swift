@testable import BindsnoopCore
import Foundation
import Testing

/// A bind from inside a cgroup named the way Kubernetes and containerd name
/// theirs (the test creates it) carries the container id, runtime and pod UID,
/// and the pod's namespace and name and the container's name from a
/// kubelet-shaped log directory: as root (the cgroup opened by its id) and
/// after `--user` dropped privileges (the kernel refuses that, and the
/// hierarchy is walked).
struct ContainerTests {
    @Test(.root, arguments: [[], ["--user", "nobody"]])
    func bindInsideAContainerCgroupNamesTheContainer(options: [String]) throws {
        let (container, pod, leaf, directories) = try Self.podCgroup("bindsnoop-container-test-\(getpid())-\(options.count)", qos: "besteffort")
        try FileManager.default.createDirectory(atPath: leaf, withIntermediateDirectories: true)
        defer { for directory in directories { rmdir(directory) } }
        let logs = Harness.temporaryFile("kubelet-logs").path
        try kubeletLogs(at: logs, namespace: "shop", pod: "web-7d4b9c6f5-x2x9q", uid: pod, container: "nginx", id: container)
        defer { try? FileManager.default.removeItem(atPath: logs) }

        var tracer: Tracer?
        let inside = try run(Harness.bindgen, ["--wait-stdin"], input: "go\n") { pid in
            try "\(pid)\n".write(toFile: "\(leaf)/cgroup.procs", atomically: false, encoding: .utf8)
            tracer = try Tracer(options, environment: ["BINDSNOOP_KUBELET_LOG_ROOT": logs])
        }
        let outside = try run(Harness.bindgen, [])
        let t = try #require(tracer)
        #expect(t.stop() == 0)
        let events = t.events()
        let mine = try #require(events.first { $0.path("process.pid") as? Int == Int(inside.pid) })
        #expect(mine.path("container.id") as? String == container)
        #expect(mine.path("container.runtime") as? String == "containerd")
        #expect(mine.path("orchestrator.type") as? String == "kubernetes")
        #expect(mine.path("orchestrator.resource.id") as? String == pod)
        #expect(mine.path("orchestrator.namespace") as? String == "shop")
        #expect(mine.path("orchestrator.resource.name") as? String == "web-7d4b9c6f5-x2x9q")
        #expect(mine.path("container.name") as? String == "nginx")
        let host = try #require(events.first { $0.path("process.pid") as? Int == Int(outside.pid) })
        #expect(host["container"] == nil && host["orchestrator"] == nil, "a host process has no container")
        try validateAgainstSchema(t.lines)
    }

    /// A pod that starts after bindsnoop: its cgroup, and either the OCI
    /// bundle containerd writes (with the annotations containerd gives a
    /// pod's container) or only the kubelet's log directories, made once
    /// bindsnoop is attached; a process in the cgroup binds at once, three
    /// times. The first bind is named like the others. A bundle that cannot
    /// be read gives the id and runtime only, and no line on stderr.
    @Test(.root, arguments: ["bundle", "kubelet logs", "unreadable bundle"])
    func firstBindOfAPodStartedLaterIsNamed(source: String) throws {
        let (container, pod, leaf, directories) = try Self.podCgroup("bindsnoop-first-bind-test-\(getpid())", qos: "burstable")
        let state = Harness.temporaryFile("runtime-state").path
        let logs = Harness.temporaryFile("kubelet-logs").path
        defer {
            for directory in directories { rmdir(directory) }
            try? FileManager.default.removeItem(atPath: state)
            try? FileManager.default.removeItem(atPath: logs)
        }
        let tracer = try Tracer([], environment: ["BINDSNOOP_RUNTIME_STATE_ROOT": state, "BINDSNOOP_KUBELET_LOG_ROOT": logs])
        defer { tracer.stop() }
        // As containerd and the kubelet do: state and log directories before the container's first process.
        let bundle = "\(state)/run/containerd/io.containerd.runtime.v2.task/k8s.io/\(container)"
        switch source {
        case "bundle":
            try FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: true)
            let annotations = ["io.kubernetes.cri.container-type": "container", "io.kubernetes.cri.container-name": "nginx",
                               "io.kubernetes.cri.image-name": "docker.io/library/nginx:1.27", "io.kubernetes.cri.sandbox-name": "web-7d4b9c6f5-x2x9q",
                               "io.kubernetes.cri.sandbox-namespace": "shop", "io.kubernetes.cri.sandbox-uid": pod]
            let spec = try JSONSerialization.data(withJSONObject: ["ociVersion": "1.1.0", "process": ["args": ["nginx"]], "annotations": annotations])
            try spec.write(to: URL(fileURLWithPath: "\(bundle)/config.json"))
        case "kubelet logs":
            try kubeletLogs(at: logs, namespace: "shop", pod: "web-7d4b9c6f5-x2x9q", uid: pod, container: "nginx", id: container)
        default:
            try FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: true)
            try Data("{\"ociVersion\": \"1.1.0\", \"annotations\": {".utf8).write(to: URL(fileURLWithPath: "\(bundle)/config.json"))
        }
        try FileManager.default.createDirectory(atPath: leaf, withIntermediateDirectories: true)
        let inside = try run(Harness.bindgen, ["--wait-stdin", "--count", "3"], input: "go\n") { pid in
            try "\(pid)\n".write(toFile: "\(leaf)/cgroup.procs", atomically: false, encoding: .utf8)
        }
        #expect(inside.bindResults.count == 3, "\(inside.stdout)\(inside.stderr)")
        #expect(tracer.stop() == 0)
        let mine = tracer.events().filter { $0.path("process.pid") as? Int == Int(inside.pid) && $0.path("event.action") as? String == "bind" }
        #expect(mine.count == 3)
        for (index, event) in mine.enumerated() {
            #expect(event.path("container.id") as? String == container)
            #expect(event.path("container.runtime") as? String == "containerd")
            #expect(event.path("orchestrator.resource.id") as? String == pod)
            if source == "unreadable bundle" {
                #expect(event.path("container.name") == nil && event.path("container.image") == nil, "bind \(index + 1): \(event)")
                #expect(event.path("orchestrator.namespace") == nil && event.path("orchestrator.resource.name") == nil)
                continue
            }
            #expect(event.path("orchestrator.namespace") as? String == "shop", "bind \(index + 1) of 3 (\(source))")
            #expect(event.path("orchestrator.resource.name") as? String == "web-7d4b9c6f5-x2x9q", "bind \(index + 1) of 3 (\(source))")
            #expect(event.path("container.name") as? String == "nginx", "bind \(index + 1) of 3 (\(source))")
            // The kubelet's directories do not name the image.
            #expect(event.path("container.image.name") as? String == (source == "bundle" ? "docker.io/library/nginx:1.27" : nil))
        }
        let complaints = tracer.stderr.split(separator: "\n").filter { $0.contains(container) || $0.contains("config.json") }
        #expect(complaints.isEmpty, "\(complaints)")
        try validateAgainstSchema(tracer.lines)
    }

    /// A pod's container cgroup named as the kubelet (systemd driver) and
    /// containerd name theirs, below `top`: a random container id and pod
    /// UID, the leaf's path, and the directories to remove, deepest first
    /// (made by the caller, when the test wants them).
    static func podCgroup(_ top: String, qos: String) throws -> (container: String, pod: String, leaf: String, directories: [String]) {
        let root = try #require(CgroupMount.path(), "no cgroup2 hierarchy mounted")
        let container = (0..<4).map { _ in String(format: "%016llx", UInt64.random(in: 0...UInt64.max)) }.joined()
        let pod = UUID().uuidString.lowercased()
        let podDirectory = "\(root)/\(top)/kubepods-\(qos)-pod\(pod.replacingOccurrences(of: "-", with: "_")).slice"
        let leaf = "\(podDirectory)/cri-containerd-\(container).scope"
        return (container, pod, leaf, [leaf, podDirectory, "\(root)/\(top)"])
    }

    /// What the kubelet writes: `pods/<namespace>_<pod>_<uid>/<container>/0.log`
    /// and the link `containers/<pod>_<namespace>_<container>-<id>.log` to it.
    private func kubeletLogs(at root: String, namespace: String, pod: String, uid: String, container: String, id: String) throws {
        let logDirectory = "\(root)/pods/\(namespace)_\(pod)_\(uid)/\(container)"
        try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(root)/containers", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: "\(logDirectory)/0.log", contents: nil)
        try FileManager.default.createSymbolicLink(atPath: "\(root)/containers/\(pod)_\(namespace)_\(container)-\(id).log",
                                                   withDestinationPath: "\(logDirectory)/0.log")
    }

    /// As root, a cgroup id is opened by its file handle: no walk of the
    /// hierarchy, however many cgroups a node has.
    @Test(.root) func cgroupIdIsOpenedByHandle() throws {
        let root = try #require(CgroupMount.path(), "no cgroup2 hierarchy mounted")
        let name = "bindsnoop-handle-test-\(getpid())"
        try FileManager.default.createDirectory(atPath: "\(root)/\(name)", withIntermediateDirectories: false)
        var status = stat()
        #expect(stat("\(root)/\(name)", &status) == 0)
        let id = UInt64(status.st_ino)
        let names = ContainerResolver(hierarchy: root)
        #expect(names.pathByHandle(of: id) == .found("/\(name)"))
        rmdir("\(root)/\(name)")
        #expect(names.pathByHandle(of: id) == .absent, "a removed cgroup")
        stat(root, &status)
        #expect(names.pathByHandle(of: UInt64(status.st_ino)) == .found("/"))
    }
}
