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
        let root = try #require(CgroupMount.path(), "no cgroup2 hierarchy mounted")
        let container = (0..<4).map { _ in String(format: "%016llx", UInt64.random(in: 0...UInt64.max)) }.joined()
        let pod = UUID().uuidString.lowercased()
        let top = "\(root)/bindsnoop-container-test-\(getpid())-\(options.count)"
        let podDirectory = "\(top)/kubepods-besteffort-pod\(pod.replacingOccurrences(of: "-", with: "_")).slice"
        let leaf = "\(podDirectory)/cri-containerd-\(container).scope"
        try FileManager.default.createDirectory(atPath: leaf, withIntermediateDirectories: true)
        defer { for directory in [leaf, podDirectory, top] { rmdir(directory) } }
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
