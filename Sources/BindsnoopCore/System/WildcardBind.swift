import Glibc

/// A UDP socket of `family` bound to the wildcard address, port 0, then
/// closed. nil: this host has no socket of that family.
func wildcardBind(family: Int32) -> Bool? {
    let fd = socket(family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var address = sockaddr_storage()
    address.ss_family = sa_family_t(family)
    let length = family == AF_INET6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size
    return withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(length)) == 0 }
    }
}
