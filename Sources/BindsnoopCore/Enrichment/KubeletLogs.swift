import Foundation

/// Pod and container names without the API server, from the directories the
/// kubelet writes container logs into (mounted read-only in a DaemonSet):
///
///   <root>/pods/<namespace>_<pod-name>_<pod-uid>/<container-name>/
///   <root>/containers/<pod-name>_<namespace>_<container-name>-<container-id>.log
///
/// The second is cut at 255 bytes before `.log` (the end of the id goes
/// first); a cut id still names its container when what is left of it is a
/// prefix of the id bindsnoop has, and at least 12 digits long. Read on a
/// thread of its own, at start and then at most once a second when a lookup
/// misses, and on the caller's thread for a pod UID not asked about before
/// (so that a pod's first bind is named). No directory, no entry: no names,
/// never a guess.
public final class KubeletLogs: @unchecked Sendable {
    public struct Pod: Equatable, Sendable {
        public var namespace: String
        public var name: String
    }

    /// One link in `containers/`, parsed.
    struct ContainerLink: Equatable {
        var pod: String
        var namespace: String
        var container: String
        var idPrefix: String
    }

    struct Snapshot {
        var pods: [String: Pod] = [:]  // by pod UID
        var containers: [String: [(idPrefix: String, name: String)]] = [:]  // by "namespace/pod"
    }

    private let root: String
    private let lock = NSLock()
    private var snapshot = Snapshot()
    private var refreshing = false
    /// Pod UIDs already asked about (a first sighting reads the directories at once).
    private var seen: Set<String> = []
    static let seenLimit = 4096
    private var lastRefresh = -Double.infinity
    private let queue = DispatchQueue(label: "bindsnoop-kubelet-logs")

    /// Reads the directories once now (at start, off the event path).
    public init(root: String) {
        self.root = root
        snapshot = Self.read(root: root)
        lastRefresh = monotonicSeconds()
    }

    /// The pod and the container's name, as far as the directories say. A
    /// pod UID seen for the first time (its first bind, usually) has the
    /// directories read now, on the caller's thread (two directory listings:
    /// the kubelet made the pod's before its containers started); later
    /// misses read them again in the background, at most once a second.
    public func names(podUID: String, containerID: String) -> (pod: Pod?, container: String?) {
        lock.lock()
        var found = lookUp(podUID: podUID, containerID: containerID)
        let firstSighting = found.container == nil && seen.insert(podUID).inserted
        lock.unlock()
        if firstSighting {
            let fresh = Self.read(root: root)
            lock.lock()
            snapshot = fresh
            if seen.count > Self.seenLimit { seen = [podUID] }
            found = lookUp(podUID: podUID, containerID: containerID)
            lock.unlock()
        }
        if found.pod == nil || found.container == nil { refreshSoon() }
        return found
    }

    /// Call with the lock held.
    private func lookUp(podUID: String, containerID: String) -> (pod: Pod?, container: String?) {
        let pod = snapshot.pods[podUID]
        let container = pod.flatMap { pod in
            snapshot.containers["\(pod.namespace)/\(pod.name)"]?.first { containerID.hasPrefix($0.idPrefix) }?.name
        }
        return (pod, container)
    }

    private func refreshSoon() {
        lock.lock()
        defer { lock.unlock() }
        let now = monotonicSeconds()
        guard !refreshing, now - lastRefresh >= 1 else { return }
        refreshing = true
        lastRefresh = now
        queue.async { [root] in
            let fresh = Self.read(root: root)
            self.lock.lock()
            self.snapshot = fresh
            self.refreshing = false
            self.lock.unlock()
        }
    }

    static func read(root: String) -> Snapshot {
        var snapshot = Snapshot()
        let files = FileManager.default
        for entry in (try? files.contentsOfDirectory(atPath: "\(root)/pods")) ?? [] {
            if let (namespace, name, uid) = parsePodDirectory(entry) { snapshot.pods[uid] = Pod(namespace: namespace, name: name) }
        }
        for entry in (try? files.contentsOfDirectory(atPath: "\(root)/containers")) ?? [] {
            guard let link = parseContainerLink(entry) else { continue }
            snapshot.containers["\(link.namespace)/\(link.pod)", default: []].append((link.idPrefix, link.container))
        }
        return snapshot
    }

    /// `<namespace>_<pod-name>_<pod-uid>`: neither name may hold `_` (DNS names).
    static func parsePodDirectory(_ name: String) -> (namespace: String, pod: String, uid: String)? {
        let parts = name.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty, ContainerIdentity.isUUID(parts[2]) else { return nil }
        return (String(parts[0]), String(parts[1]), String(parts[2]))
    }

    /// `<pod-name>_<namespace>_<container-name>-<container-id>.log`, the id
    /// perhaps cut short (kept only from 12 hex digits on).
    static func parseContainerLink(_ name: String) -> ContainerLink? {
        guard name.hasSuffix(".log") else { return nil }
        let parts = name.dropLast(".log".count).split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty, let dash = parts[2].lastIndex(of: "-") else { return nil }
        let container = parts[2][..<dash]
        let id = parts[2][parts[2].index(after: dash)...]
        guard !container.isEmpty, id.utf8.count >= 12, id.utf8.count <= 64,
              id.utf8.allSatisfy(ContainerIdentity.isHexDigit) else { return nil }
        return ContainerLink(pod: String(parts[0]), namespace: String(parts[1]), container: String(container), idPrefix: String(id))
    }
}
