import Foundation

/// The container (and Kubernetes pod) a cgroup v2 path belongs to, from the
/// names container runtimes give their cgroups. Only what the path states:
/// a path no runtime naming matches gives nil, never a guess.
///
///   Docker      /system.slice/docker-<id>.scope        /docker/<id>
///   containerd  …/cri-containerd-<id>.scope            …/kubepods/…/pod<uid>/<id>
///   CRI-O       …/crio-<id>.scope                      …/crio-conmon-<id>.scope is the monitor, not the container
///   Podman      …/libpod-<id>.scope[/container]        /libpod_parent/libpod-<id>
///   Kubernetes  kubepods-…-pod<uid_with_underscores>.slice   /kubepods/<qos>/pod<uid>
public struct ContainerIdentity: Equatable, Sendable {
    /// 64 hex digits.
    public var id: String
    /// docker, containerd, cri-o, podman; nil when the path names no runtime
    /// (a bare id under kubepods in the cgroupfs layout).
    public var runtime: String?
    /// The Kubernetes pod's UID, when the path is under kubepods.
    public var podUID: String?

    public init(id: String, runtime: String?, podUID: String?) {
        self.id = id
        self.runtime = runtime
        self.podUID = podUID
    }

    /// Runtime prefixes of systemd scope units, longest first where one is a prefix of another.
    private static let scopePrefixes: [(prefix: String, runtime: String)] = [
        ("cri-containerd-", "containerd"), ("containerd-", "containerd"), ("docker-", "docker"),
        ("crio-", "cri-o"), ("libpod-", "podman"),
    ]

    public init?(cgroupPath path: String) {
        var found: (id: String, runtime: String?)?
        var pod: String?
        var parent: Substring = ""
        for component in path.split(separator: "/") {
            if let uid = Self.podUID(component) { pod = uid }
            if let match = Self.container(component, parent: parent) { found = match }
            parent = component
        }
        guard let found else { return nil }
        self.init(id: found.id, runtime: found.runtime, podUID: pod)
    }

    /// One path component naming a container, given the component above it.
    private static func container(_ component: Substring, parent: Substring) -> (id: String, runtime: String?)? {
        var name = component
        if name.hasSuffix(".scope") { name = name.dropLast(".scope".count) }
        if name.hasPrefix("crio-conmon-") { return nil }
        for (prefix, runtime) in scopePrefixes where name.hasPrefix(prefix) {
            let id = name.dropFirst(prefix.count)
            return isContainerID(id) ? (String(id), runtime) : nil
        }
        guard isContainerID(name) else { return nil }
        // cgroupfs driver layouts: the bare id under its runtime's directory.
        switch parent {
        case "docker": return (String(name), "docker")
        case "libpod_parent": return (String(name), "podman")
        default: return parent.hasPrefix("pod") || parent == "kubepods" ? (String(name), nil) : nil
        }
    }

    /// `pod<uid>` (cgroupfs) or `kubepods[-qos]-pod<uid_with_underscores>.slice` (systemd).
    private static func podUID(_ component: Substring) -> String? {
        var name = component
        if name.hasSuffix(".slice") { name = name.dropLast(".slice".count) }
        guard let range = name.range(of: "pod", options: .backwards) else { return nil }
        let before = name[..<range.lowerBound]
        guard before.isEmpty || (before.hasPrefix("kubepods") && before.hasSuffix("-")) else { return nil }
        let uid = name[range.upperBound...].replacingOccurrences(of: "_", with: "-")
        return isUUID(uid) ? uid : nil
    }

    private static func isContainerID(_ text: Substring) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy(isHexDigit)
    }

    static func isUUID(_ text: some StringProtocol) -> Bool {
        let groups = text.split(separator: "-", omittingEmptySubsequences: false)
        return groups.map(\.utf8.count) == [8, 4, 4, 4, 12] && groups.allSatisfy { $0.utf8.allSatisfy(isHexDigit) }
    }

    static func isHexDigit(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66)
    }
}
