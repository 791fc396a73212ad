import Glibc

/// sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET.
public enum SystemdNotifier {
    @discardableResult
    public static func notify(_ state: String, socketPath: String? = getenv("NOTIFY_SOCKET").map { String(cString: $0) }) -> Bool {
        guard var path = socketPath, !path.isEmpty else { return false }
        let abstract = path.hasPrefix("@")
        if abstract { path.removeFirst() }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path) - 1
        guard pathBytes.count + (abstract ? 1 : 0) <= capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: (abstract ? [0] : []) + pathBytes)
        }
        let length = MemoryLayout<sa_family_t>.size + pathBytes.count + (abstract ? 1 : 0)
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sockaddrPointer in
                state.withCString { sendto(fd, $0, strlen($0), 0, sockaddrPointer, socklen_t(length)) }
            }
        }
        return sent >= 0
    }
}
