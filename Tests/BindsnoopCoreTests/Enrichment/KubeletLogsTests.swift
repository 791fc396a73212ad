@testable import BindsnoopCore
import Foundation
import Testing

/// Pod and container names from the kubelet's log directory names.
@Suite struct KubeletLogsTests {
    let uid = "6f1c2b8e-4a1d-4c7b-9e2f-0a1b2c3d4e5f"
    let id = String(repeating: "0123456789abcdef", count: 4)

    @Test func podDirectoryNames() {
        let parsed = KubeletLogs.parsePodDirectory("kube-system_coredns-5d78c9869d-abcde_\(uid)")
        #expect(parsed?.namespace == "kube-system")
        #expect(parsed?.pod == "coredns-5d78c9869d-abcde")
        #expect(parsed?.uid == uid)
        #expect(KubeletLogs.parsePodDirectory("default_web_not-a-uid") == nil)
        #expect(KubeletLogs.parsePodDirectory("default_web_extra_\(uid)") == nil, "names never hold _")
        #expect(KubeletLogs.parsePodDirectory("_web_\(uid)") == nil)
    }

    @Test func containerLinkNames() {
        let link = KubeletLogs.parseContainerLink("web-7d4b9c6f5-x2x9q_shop_nginx-sidecar-\(id).log")
        #expect(link == KubeletLogs.ContainerLink(pod: "web-7d4b9c6f5-x2x9q", namespace: "shop", container: "nginx-sidecar", idPrefix: id))
        #expect(KubeletLogs.parseContainerLink("web_shop_nginx-\(id)") == nil, "not a .log")
        #expect(KubeletLogs.parseContainerLink("web_shop_nginx-\(id.prefix(11)).log") == nil, "too little of the id left")
        #expect(KubeletLogs.parseContainerLink("web_shop_nginx-XYZ\(id.dropFirst(3)).log") == nil)
    }

    /// The kubelet cuts the link's name at 255 bytes before `.log`: a long
    /// pod name leaves part of the id, which still names the container; one
    /// that leaves less than 12 digits names nothing.
    @Test func namesAtTheFileNameLimit() {
        func kubeletName(pod: String, namespace: String, container: String) -> String {
            let full = "\(pod)_\(namespace)_\(container)-\(id)"
            return String(full.prefix(255 - ".log".count)) + ".log"
        }
        let pod = String(repeating: "p", count: 180)  // 180 + "_shop_nginx-" 12 = 192: 59 of 64 digits left
        let cut = kubeletName(pod: pod, namespace: "shop", container: "nginx")
        #expect(cut.utf8.count == 255)
        let link = KubeletLogs.parseContainerLink(cut)
        #expect(link?.container == "nginx")
        #expect(link?.idPrefix == String(id.prefix(59)))
        let longer = String(repeating: "p", count: 233)  // leaves 6 digits
        #expect(KubeletLogs.parseContainerLink(kubeletName(pod: longer, namespace: "shop", container: "nginx")) == nil)
    }

    /// A directory tree as the kubelet writes it; absent directories mean no names.
    @Test func joinsPodAndContainer() throws {
        let root = FileManager.default.temporaryDirectory.appending(path: "kubelet-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let pod = String(repeating: "p", count: 180)
        try FileManager.default.createDirectory(atPath: "\(root)/pods/shop_\(pod)_\(uid)/nginx", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(root)/containers", withIntermediateDirectories: true)
        let link = String("\(pod)_shop_nginx-\(id)".prefix(251)) + ".log"
        _ = FileManager.default.createFile(atPath: "\(root)/containers/\(link)", contents: nil)
        let logs = KubeletLogs(root: root)
        let names = logs.names(podUID: uid, containerID: id)
        #expect(names.pod == KubeletLogs.Pod(namespace: "shop", name: pod))
        #expect(names.container == "nginx")
        let other = String(repeating: "f", count: 64)
        #expect(logs.names(podUID: uid, containerID: other).container == nil, "another container of the pod: no name")
        let nowhere = KubeletLogs(root: "\(root)/absent")
        #expect(nowhere.names(podUID: uid, containerID: id).pod == nil)
    }
}
