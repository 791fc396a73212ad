import Foundation

/// A container's names: its own, its image's, and its pod's where it is in one.
public struct ContainerNames: Equatable, Sendable {
    public var container: String?
    public var image: String?
    public var podNamespace: String?
    public var podName: String?

    public init(container: String? = nil, image: String? = nil, podNamespace: String? = nil, podName: String? = nil) {
        self.container = container
        self.image = image
        self.podNamespace = podNamespace
        self.podName = podName
    }
}

/// Container names from the container runtimes' own state, read when a
/// container id is first seen: every runtime writes it before the
/// container's first process starts, so the container's first bind is named.
/// Local files only (no socket, no API server), each read bounded; what the
/// files do not say is absent, never a guess. Paths below `root` (the host's
/// root as bindsnoop sees it):
///
///   containerd  run/containerd/io.containerd.runtime.v2.task/<namespace>/<id>/config.json
///               (the OCI bundle: io.kubernetes.cri.{container-name,image-name,
///               sandbox-name,sandbox-namespace} annotations; nerdctl/name)
///   CRI-O       run/containers/storage/overlay-containers/<id>/userdata/config.json,
///               then var/lib/…: io.kubernetes.{container.name,pod.name,pod.namespace},
///               io.kubernetes.cri-o.ImageName annotations
///   Docker      var/lib/docker/containers/<id>/config.v2.json: Name, Config.Image,
///               Config.Labels io.kubernetes.* (cri-dockerd)
///   Podman      var/lib/containers/storage/overlay-containers/containers.json:
///               names, metadata's image-name (parsed again only when it changed)
///
/// A cgroup path that names no runtime (Kubernetes' cgroupfs layout) is
/// looked up as containerd's, then CRI-O's, then Docker's. Answers, empty
/// ones too, are cached by container id (at most `cacheLimit`).
public struct RuntimeState {
    public static let cacheLimit = 4096
    /// The largest state file read (a containers.json of thousands of containers).
    static let fileLimit = 16 << 20

    private let root: String
    private var cache: [String: ContainerNames] = [:]
    private var podman: (version: FileVersion, names: [String: ContainerNames])?

    /// `root` "/" on the host; a DaemonSet mounts the runtimes' directories
    /// at the same paths.
    public init(root: String = "/") {
        self.root = root.hasSuffix("/") ? String(root.dropLast()) : root
    }

    public mutating func names(of identity: ContainerIdentity) -> ContainerNames {
        if let known = cache[identity.id] { return known }
        let names = lookUp(identity)
        if cache.count >= Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
        cache[identity.id] = names
        return names
    }

    private mutating func lookUp(_ identity: ContainerIdentity) -> ContainerNames {
        switch identity.runtime {
        case "containerd": return containerd(identity.id) ?? ContainerNames()
        case "cri-o": return crio(identity.id) ?? ContainerNames()
        case "docker": return docker(identity.id) ?? ContainerNames()
        case "podman": return podman(identity.id) ?? ContainerNames()
        default: return containerd(identity.id) ?? crio(identity.id) ?? docker(identity.id) ?? ContainerNames()
        }
    }

    /// The bundle's config.json in whichever containerd namespace holds it
    /// (k8s.io for Kubernetes, default for nerdctl, moby for Docker).
    private func containerd(_ id: String) -> ContainerNames? {
        let tasks = "\(root)/run/containerd/io.containerd.runtime.v2.task"
        for namespace in (try? FileManager.default.contentsOfDirectory(atPath: tasks)) ?? [] {
            guard let spec = Self.json("\(tasks)/\(namespace)/\(id)/config.json") else { continue }
            let annotations = spec["annotations"] as? [String: Any] ?? [:]
            return ContainerNames(container: Self.string(annotations["io.kubernetes.cri.container-name"]) ?? Self.string(annotations["nerdctl/name"]),
                                  image: Self.string(annotations["io.kubernetes.cri.image-name"]),
                                  podNamespace: Self.string(annotations["io.kubernetes.cri.sandbox-namespace"]),
                                  podName: Self.string(annotations["io.kubernetes.cri.sandbox-name"]))
        }
        return nil
    }

    private func crio(_ id: String) -> ContainerNames? {
        for storage in ["run", "var/lib"] {
            guard let spec = Self.json("\(root)/\(storage)/containers/storage/overlay-containers/\(id)/userdata/config.json") else { continue }
            let annotations = spec["annotations"] as? [String: Any] ?? [:]
            guard annotations["io.kubernetes.cri-o.ContainerType"] != nil || annotations["io.kubernetes.pod.name"] != nil else { continue }  // podman's, not CRI-O's
            return Self.kubernetesLabels(annotations, image: Self.string(annotations["io.kubernetes.cri-o.ImageName"]))
        }
        return nil
    }

    private func docker(_ id: String) -> ContainerNames? {
        guard let state = Self.json("\(root)/var/lib/docker/containers/\(id)/config.v2.json") else { return nil }
        let config = state["Config"] as? [String: Any] ?? [:]
        var names = Self.kubernetesLabels(config["Labels"] as? [String: Any] ?? [:], image: Self.string(config["Image"]))
        if names.container == nil, let name = Self.string(state["Name"]) {
            names.container = name.hasPrefix("/") ? String(name.dropFirst()) : name
        }
        return names
    }

    /// containers/storage's list of containers, parsed again only when it changed.
    private mutating func podman(_ id: String) -> ContainerNames? {
        let path = "\(root)/var/lib/containers/storage/overlay-containers/containers.json"
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        let version = FileVersion(status)
        if podman?.version != version {
            var names: [String: ContainerNames] = [:]
            for container in Self.jsonArray(path) ?? [] {
                guard let id = container["id"] as? String else { continue }
                // metadata is JSON in a string: {"image-name":"…","name":"…",…}
                let metadata = (container["metadata"] as? String).flatMap { Self.object(Data($0.utf8)) } ?? [:]
                names[id] = ContainerNames(container: (container["names"] as? [Any])?.first.flatMap(Self.string) ?? Self.string(metadata["name"]),
                                           image: Self.string(metadata["image-name"]))
            }
            podman = (version, names)
        }
        return podman?.names[id]
    }

    /// What tells one content of a file from the next: a file replaced by a
    /// rename is a new inode; one written in place within a clock tick has
    /// the same time and perhaps another size.
    private struct FileVersion: Equatable {
        var inode: UInt64, size: Int64, seconds: Int, nanoseconds: Int
        init(_ status: stat) {
            inode = UInt64(status.st_ino)
            size = Int64(status.st_size)
            seconds = status.st_mtim.tv_sec
            nanoseconds = status.st_mtim.tv_nsec
        }
    }

    /// The labels and annotations CRI-O and cri-dockerd give a pod's container.
    private static func kubernetesLabels(_ labels: [String: Any], image: String?) -> ContainerNames {
        ContainerNames(container: string(labels["io.kubernetes.container.name"]), image: image,
                       podNamespace: string(labels["io.kubernetes.pod.namespace"]), podName: string(labels["io.kubernetes.pod.name"]))
    }

    private static func string(_ value: Any?) -> String? {
        guard let text = value as? String, !text.isEmpty else { return nil }
        return text
    }

    private static func json(_ path: String) -> [String: Any]? {
        readRegularFile(path, limit: fileLimit).flatMap { object(Data($0)) }
    }

    private static func jsonArray(_ path: String) -> [[String: Any]]? {
        guard let bytes = readRegularFile(path, limit: fileLimit) else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [[String: Any]]
    }

    private static func object(_ data: Data) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }
}
