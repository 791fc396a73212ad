import Foundation

/// cgroup v2 ids (what the kernel program records) to the container and pod
/// they belong to, as the ready-made JSON members `"container":{…}` and
/// `"orchestrator":{…}`. A cgroup v2 id is the inode number of the cgroup's
/// directory, so ids are mapped to paths by walking the hierarchy; a walk
/// happens at most once per `rescanInterval`, when an unknown id shows up.
public struct ContainerNames {
    private let hierarchy: String?
    private let rescanInterval: Double
    private var paths: [UInt64: String] = [:]
    private var encoded: [UInt64: [UInt8]] = [:]
    /// Ids no scan found (a cgroup already gone, or outside the hierarchy),
    /// until the next `forget()`: they cost no clock read per event.
    private var unknown: Set<UInt64> = []
    private var lastScan = -Double.infinity

    /// `hierarchy` nil: enrichment off (no cgroup v2 mount found).
    public init(hierarchy: String? = ContainerNames.cgroup2Mount(), rescanInterval: Double = 0.5) {
        self.hierarchy = hierarchy
        self.rescanInterval = rescanInterval
    }

    /// The JSON members for the cgroup, with a leading comma; empty when the
    /// cgroup names no container.
    public mutating func encodedMembers(cgroupID: UInt64) -> [UInt8] {
        if let cached = encoded[cgroupID] { return cached }
        if unknown.contains(cgroupID) { return [] }
        if paths[cgroupID] == nil, case let now = monotonicSeconds(), now - lastScan >= rescanInterval {
            scan()
            lastScan = now
            if paths[cgroupID] == nil { unknown.insert(cgroupID) }
        }
        guard let path = paths[cgroupID] else { return [] }
        let members = Self.encode(ContainerIdentity(cgroupPath: path))
        encoded[cgroupID] = members
        return members
    }

    /// About once a second: unknown ids get another chance (a container
    /// created since), and the caches do not grow with every short-lived one.
    public mutating func forget() {
        unknown.removeAll(keepingCapacity: true)
        if encoded.count > 4096 { encoded.removeAll(keepingCapacity: true) }
        if paths.count > 65536 { paths.removeAll(keepingCapacity: true) }
    }

    static func encode(_ identity: ContainerIdentity?) -> [UInt8] {
        guard let identity else { return [] }
        var out = OutputBuffer(capacity: 256)
        out.append(",\"container\":{\"id\":")
        out.appendJSONString(identity.id)
        if let runtime = identity.runtime {
            out.append(",\"runtime\":")
            out.appendJSONString(runtime)
        }
        out.append("}")
        if let pod = identity.podUID {
            out.append(",\"orchestrator\":{\"type\":\"kubernetes\",\"resource\":{\"type\":\"pod\",\"id\":")
            out.appendJSONString(pod)
            out.append("}}")
        }
        return out.bytes
    }

    private mutating func scan() {
        guard let hierarchy, let walker = FileManager.default.enumerator(atPath: hierarchy) else { return }
        var status = stat()
        if stat(hierarchy, &status) == 0 { paths[UInt64(status.st_ino)] = "/" }
        while let relative = walker.nextObject() as? String {
            if lstat("\(hierarchy)/\(relative)", &status) == 0, status.st_mode & S_IFMT == S_IFDIR {
                paths[UInt64(status.st_ino)] = "/" + relative
            }
        }
    }

    /// Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup on current systems).
    public static func cgroup2Mount() -> String? {
        guard let mounts = try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8) else { return nil }
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count > 2 && fields[2] == "cgroup2" { return String(fields[1]) }
        }
        return nil
    }
}
