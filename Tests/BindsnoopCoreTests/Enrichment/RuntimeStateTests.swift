@testable import BindsnoopCore
import Foundation
import Testing

/// Container names from state trees shaped as each runtime writes its own
/// (the files' names and keys as containerd, CRI-O, Docker and podman write them).
struct RuntimeStateTests {
    static let id = String(repeating: "ab", count: 32)
    static let other = String(repeating: "cd", count: 32)

    private func tree() throws -> String {
        let root = FileManager.default.temporaryDirectory.appending(path: "runtime-state-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        return root
    }

    private func write(_ text: String, to path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    @Test func containerdBundleAnnotationsNameThePodAndTheContainer() throws {
        let root = try tree()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try write(#"{"ociVersion":"1.1.0","annotations":{"io.kubernetes.cri.container-type":"container","io.kubernetes.cri.container-name":"nginx","io.kubernetes.cri.image-name":"docker.io/library/nginx:1.27","io.kubernetes.cri.sandbox-name":"web-7d4b9c6f5-x2x9q","io.kubernetes.cri.sandbox-namespace":"shop","io.kubernetes.cri.sandbox-uid":"0b6c3b1e-2f4a-4c55-9d9e-8a1b2c3d4e5f"}}"#,
                  to: "\(root)/run/containerd/io.containerd.runtime.v2.task/k8s.io/\(Self.id)/config.json")
        var state = RuntimeState(root: root)
        let expected = ContainerNames(container: "nginx", image: "docker.io/library/nginx:1.27", podNamespace: "shop", podName: "web-7d4b9c6f5-x2x9q")
        #expect(state.names(of: ContainerIdentity(id: Self.id, runtime: "containerd", podUID: nil)) == expected)
        // Kubernetes' cgroupfs layout names no runtime: containerd's state is asked first.
        var unnamed = RuntimeState(root: root)
        #expect(unnamed.names(of: ContainerIdentity(id: Self.id, runtime: nil, podUID: nil)) == expected)
        #expect(state.names(of: ContainerIdentity(id: Self.other, runtime: "containerd", podUID: nil)) == ContainerNames())
    }

    @Test func nerdctlNamesItsContainerInAnotherNamespace() throws {
        let root = try tree()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try write(#"{"annotations":{"nerdctl/name":"cache"}}"#, to: "\(root)/run/containerd/io.containerd.runtime.v2.task/default/\(Self.id)/config.json")
        var state = RuntimeState(root: root)
        #expect(state.names(of: ContainerIdentity(id: Self.id, runtime: "containerd", podUID: nil)) == ContainerNames(container: "cache"))
    }

    @Test func crioAnnotationsNameThePodAndTheContainer() throws {
        let root = try tree()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try write(#"{"annotations":{"io.kubernetes.cri-o.ContainerType":"container","io.kubernetes.container.name":"api","io.kubernetes.cri-o.ImageName":"quay.io/acme/api:v2","io.kubernetes.pod.name":"api-0","io.kubernetes.pod.namespace":"prod"}}"#,
                  to: "\(root)/run/containers/storage/overlay-containers/\(Self.id)/userdata/config.json")
        var state = RuntimeState(root: root)
        #expect(state.names(of: ContainerIdentity(id: Self.id, runtime: "cri-o", podUID: nil))
                == ContainerNames(container: "api", image: "quay.io/acme/api:v2", podNamespace: "prod", podName: "api-0"))
    }

    @Test func dockerConfigNamesTheContainerAndItsImage() throws {
        let root = try tree()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try write(#"{"ID":"\#(Self.id)","Name":"/web","Config":{"Image":"nginx:1.27","Labels":{}}}"#,
                  to: "\(root)/var/lib/docker/containers/\(Self.id)/config.v2.json")
        var state = RuntimeState(root: root)
        #expect(state.names(of: ContainerIdentity(id: Self.id, runtime: "docker", podUID: nil)) == ContainerNames(container: "web", image: "nginx:1.27"))
    }

    /// containers.json is parsed again when it changed, not on every new id.
    @Test func podmanStorageNamesTheContainerAndItsImage() throws {
        let root = try tree()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let path = "\(root)/var/lib/containers/storage/overlay-containers/containers.json"
        func entry(_ id: String, _ name: String) -> String {
            #"{"id":"\#(id)","names":["\#(name)"],"image":"5d0da3dc9764","metadata":"{\"image-name\":\"localhost/app:latest\",\"image-id\":\"5d0da3dc9764\",\"name\":\"\#(name)\",\"created-at\":1764979200}"}"#
        }
        try write("[\(entry(Self.id, "web"))]", to: path)
        var state = RuntimeState(root: root)
        #expect(state.names(of: ContainerIdentity(id: Self.id, runtime: "podman", podUID: nil)) == ContainerNames(container: "web", image: "localhost/app:latest"))
        #expect(state.names(of: ContainerIdentity(id: Self.other, runtime: "podman", podUID: nil)) == ContainerNames())
        try write("[\(entry(Self.id, "web")),\(entry(Self.other, "db"))]", to: path)
        let later = String(repeating: "ef", count: 32)
        try write("[\(entry(Self.id, "web")),\(entry(Self.other, "db")),\(entry(later, "queue"))]", to: path)
        #expect(state.names(of: ContainerIdentity(id: later, runtime: "podman", podUID: nil)).container == "queue", "a container created since")
    }

    /// Unreadable, malformed or oversized state: no names, no error.
    @Test func stateThatCannotBeReadGivesNoNames() throws {
        let root = try tree()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try write("{not json", to: "\(root)/run/containerd/io.containerd.runtime.v2.task/k8s.io/\(Self.id)/config.json")
        try FileManager.default.createDirectory(atPath: "\(root)/var/lib/docker/containers/\(Self.id)/config.v2.json", withIntermediateDirectories: true)
        try write(#"{"annotations":"a string"}"#, to: "\(root)/run/containers/storage/overlay-containers/\(Self.id)/userdata/config.json")
        try write(#"{"names":[]}"#, to: "\(root)/var/lib/containers/storage/overlay-containers/containers.json")
        var state = RuntimeState(root: root)
        for runtime in ["containerd", "docker", "cri-o", "podman", nil] {
            #expect(state.names(of: ContainerIdentity(id: Self.id, runtime: runtime, podUID: nil)) == ContainerNames(), "\(runtime ?? "none")")
        }
        var nowhere = RuntimeState(root: "\(root)/absent")
        #expect(nowhere.names(of: ContainerIdentity(id: Self.id, runtime: nil, podUID: nil)) == ContainerNames())
    }

    /// The encoded members: the image and the names the state gave.
    @Test func encodedContainerCarriesTheImage() throws {
        let names = ContainerNames(container: "nginx", image: "docker.io/library/nginx:1.27", podNamespace: "shop", podName: "web-0")
        let pod = "0b6c3b1e-2f4a-4c55-9d9e-8a1b2c3d4e5f"
        let bytes = JSONFragments.container(ContainerIdentity(id: Self.id, runtime: "containerd", podUID: pod), names: names)
        let object = try #require(try JSONSerialization.jsonObject(with: Data("{\"x\":0\(String(decoding: bytes, as: UTF8.self))}".utf8)) as? [String: Any])
        let container = try #require(object["container"] as? [String: Any])
        #expect((container["image"] as? [String: Any])?["name"] as? String == "docker.io/library/nginx:1.27")
        #expect(container["name"] as? String == "nginx")
        let orchestrator = try #require(object["orchestrator"] as? [String: Any])
        #expect(orchestrator["namespace"] as? String == "shop")
        #expect((orchestrator["resource"] as? [String: Any])?["name"] as? String == "web-0")
    }
}
