import CBindsnoop
import Foundation

/// cgroup v2 ids (what the kernel program records) to the container and pod
/// they belong to. An unknown id is opened directly by its file handle (one
/// lookup, whatever the number of cgroups; needs CAP_DAC_READ_SEARCH).
/// Where the kernel refuses that (after `--user` drops privileges), ids are
/// mapped to paths by walking the hierarchy (a cgroup v2 id is the inode
/// number of its directory), at most once per `rescanInterval`.
public struct ContainerResolver {
    private let hierarchy: String?
    private let handles: CgroupHandles?
    private let rescanInterval: Double
    private var paths: [UInt64: String] = [:]
    private var identities: [UInt64: ContainerIdentity?] = [:]
    /// Ids no scan found (a cgroup already gone, or outside the hierarchy),
    /// until the next `forget()`: they cost no clock read per event.
    private var unknown: Set<UInt64> = []
    private var lastScan = -Double.infinity

    /// `hierarchy` nil: enrichment off (no cgroup v2 mount found).
    /// `openByHandle` false: the walk only (tests use a plain directory tree).
    public init(hierarchy: String? = CgroupMount.path(), rescanInterval: Double = 0.5, openByHandle: Bool = true) {
        self.hierarchy = hierarchy
        self.rescanInterval = rescanInterval
        handles = openByHandle ? hierarchy.flatMap(CgroupHandles.init(hierarchy:)) : nil
    }

    /// The container of the cgroup; nil when its path names none, or when
    /// the id is not (yet) found.
    public mutating func identity(cgroupID: UInt64) -> ContainerIdentity? {
        if let known = identities[cgroupID] { return known }
        if unknown.contains(cgroupID) { return nil }
        if paths[cgroupID] == nil, let handles, handles.usable {
            switch handles.path(of: cgroupID) {
            case .found(let path): paths[cgroupID] = path
            case .absent: unknown.insert(cgroupID)
            case .refused: break  // the walk below from now on
            }
        }
        if paths[cgroupID] == nil, !unknown.contains(cgroupID), case let now = monotonicSeconds(), now - lastScan >= rescanInterval {
            scan()
            lastScan = now
            if paths[cgroupID] == nil { unknown.insert(cgroupID) }
        }
        guard let path = paths[cgroupID] else { return nil }
        let identity = ContainerIdentity(cgroupPath: path)
        identities[cgroupID] = identity
        return identity
    }

    /// About once a second: unknown ids get another chance (a container
    /// created since), and the caches do not grow with every short-lived one.
    public mutating func forget() {
        unknown.removeAll(keepingCapacity: true)
        if identities.count > 4096 { identities.removeAll(keepingCapacity: true) }
        if paths.count > 65536 { paths.removeAll(keepingCapacity: true) }
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

    /// The path below the hierarchy of the cgroup with a given id, by
    /// `open_by_handle_at(2)` (for tests).
    func pathByHandle(of cgroupID: UInt64) -> CgroupHandles.Lookup? {
        handles?.path(of: cgroupID)
    }
}

/// A descriptor of the cgroup v2 mount, to open cgroups by id. A class: the
/// descriptor is closed once, whatever copies of ContainerResolver there are.
final class CgroupHandles {
    enum Lookup: Equatable {
        case found(String)  // the path below the hierarchy, "/" for its root
        case absent  // no cgroup has this id now
        case refused  // the kernel does not let this process open handles
    }

    private let hierarchy: String
    private let fd: Int32
    /// False once the kernel refused (no CAP_DAC_READ_SEARCH any more).
    private(set) var usable = true

    init?(hierarchy: String) {
        fd = open(hierarchy, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        self.hierarchy = hierarchy
    }

    deinit {
        close(fd)
    }

    func path(of cgroupID: UInt64) -> Lookup {
        let directory = bindsnoop_open_cgroup(fd, cgroupID)
        guard directory >= 0 else {
            if errno == ESTALE || errno == ENOENT { return .absent }
            usable = false
            return .refused
        }
        defer { close(directory) }
        var target = [UInt8](repeating: 0, count: Int(PATH_MAX))
        let n = readlink("/proc/self/fd/\(directory)", &target, target.count)
        guard n > 0 else {  // no /proc: the walk will do
            usable = false
            return .refused
        }
        let path = String(decoding: target[..<n], as: UTF8.self)
        if path == hierarchy { return .found("/") }
        guard path.hasPrefix(hierarchy + "/") else { return .absent }  // outside our view of the hierarchy
        return .found(String(path.dropFirst(hierarchy.count)))
    }
}
