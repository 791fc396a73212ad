@testable import BindsnoopCore
import Foundation
import Testing

/// Real cgroup v2 path shapes of each runtime and cgroup driver.
struct ContainerIdentityTests {
    static let id = "3f4c1ab0e2d94b7d8c1e5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f809"
    static let pod = "8a2f6c3e-1b4d-4e5f-9a0b-1c2d3e4f5a6b"
    static let podUnderscored = "8a2f6c3e_1b4d_4e5f_9a0b_1c2d3e4f5a6b"

    @Test(arguments: [
        // Docker, systemd and cgroupfs drivers
        ("/system.slice/docker-\(id).scope", ContainerIdentity(id: id, runtime: "docker", podUID: nil)),
        ("/docker/\(id)", ContainerIdentity(id: id, runtime: "docker", podUID: nil)),
        // Kubernetes with containerd, systemd driver (QoS classes) and cgroupfs driver
        ("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(podUnderscored).slice/cri-containerd-\(id).scope",
         ContainerIdentity(id: id, runtime: "containerd", podUID: pod)),
        ("/kubepods.slice/kubepods-pod\(podUnderscored).slice/cri-containerd-\(id).scope",
         ContainerIdentity(id: id, runtime: "containerd", podUID: pod)),
        ("/kubepods/besteffort/pod\(pod)/\(id)", ContainerIdentity(id: id, runtime: nil, podUID: pod)),
        ("/kubepods/pod\(pod)/\(id)", ContainerIdentity(id: id, runtime: nil, podUID: pod)),
        // CRI-O
        ("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod\(podUnderscored).slice/crio-\(id).scope",
         ContainerIdentity(id: id, runtime: "cri-o", podUID: pod)),
        // Podman: rootful, rootless (user slice, with its inner "container" cgroup), cgroupfs
        ("/machine.slice/libpod-\(id).scope", ContainerIdentity(id: id, runtime: "podman", podUID: nil)),
        ("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-\(id).scope/container",
         ContainerIdentity(id: id, runtime: "podman", podUID: nil)),
        ("/libpod_parent/libpod-\(id)", ContainerIdentity(id: id, runtime: "podman", podUID: nil)),
    ])
    func recognizes(path: String, expected: ContainerIdentity) {
        #expect(ContainerIdentity(cgroupPath: path) == expected)
    }

    @Test(arguments: [
        "/", "/user.slice/user-1000.slice/session-3.scope", "/system.slice/sshd.service",
        "/system.slice/docker.service",  // the daemon, not a container
        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod\(podUnderscored).slice/crio-conmon-\(id).scope",
        "/system.slice/docker-\(id.dropLast()).scope",  // 63 digits
        "/system.slice/docker-\(id.uppercased()).scope",
        "/srv/\(id)",  // a bare id under no runtime's directory
    ])
    func inventsNothing(path: String) {
        #expect(ContainerIdentity(cgroupPath: path) == nil)
    }

    @Test func podWithoutContainerIsNoContainer() {
        #expect(ContainerIdentity(cgroupPath: "/kubepods/burstable/pod\(Self.pod)") == nil)
    }

    @Test func membersAreValidJSON() throws {
        let members = JSONFragments.container(ContainerIdentity(id: Self.id, runtime: "containerd", podUID: Self.pod))
        let object = "{" + String(decoding: members.dropFirst(), as: UTF8.self) + "}"
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(object.utf8)) as? [String: Any])
        #expect(parsed.path("container.id") as? String == Self.id)
        #expect(parsed.path("container.runtime") as? String == "containerd")
        #expect(parsed.path("orchestrator.type") as? String == "kubernetes")
        #expect(parsed.path("orchestrator.resource.type") as? String == "pod")
        #expect(parsed.path("orchestrator.resource.id") as? String == Self.pod)
        #expect(JSONFragments.container(nil).isEmpty)
    }

    /// The walk (what is left after --user drops CAP_DAC_READ_SEARCH) over a
    /// directory tree shaped like a Docker host's: an id is a directory's inode.
    @Test func walkFindsTheDirectoryByInode() throws {
        let root = FileManager.default.temporaryDirectory.appending(path: "bindsnoop-walk-\(UUID().uuidString)").path
        let leaf = "\(root)/system.slice/docker-\(Self.id).scope"
        try FileManager.default.createDirectory(atPath: leaf, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        func inode(_ path: String) -> UInt64 {
            var status = stat()
            return stat(path, &status) == 0 ? UInt64(status.st_ino) : 0
        }
        var resolver = ContainerResolver(hierarchy: root, rescanInterval: 0, openByHandle: false)
        #expect(resolver.identity(cgroupID: inode(leaf)) == ContainerIdentity(id: Self.id, runtime: "docker", podUID: nil))
        #expect(resolver.identity(cgroupID: inode("\(root)/system.slice")) == nil, "a slice is no container")
        #expect(resolver.identity(cgroupID: UInt64.max) == nil)
    }
}
