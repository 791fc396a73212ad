import Glibc

/// A system call's failure, as its errno: what System's helpers throw; the
/// stage that called them says what it means (a sink: "write failed").
public struct Errno: Error, Equatable, Sendable {
    public var code: Int32

    public init(_ code: Int32) {
        self.code = code
    }

    /// `EMFILE`, or the number where Linux names none.
    public var name: String { errorName(code) }
}

/// Linux errno names (from asm-generic/errno*.h; first name where two share
/// a number) and the C library's messages.
public enum ErrnoNames {
    static let names: [StaticString] = [
        "", "EPERM", "ENOENT", "ESRCH", "EINTR", "EIO", "ENXIO", "E2BIG", "ENOEXEC", "EBADF",
        "ECHILD", "EAGAIN", "ENOMEM", "EACCES", "EFAULT", "ENOTBLK", "EBUSY", "EEXIST", "EXDEV",
        "ENODEV", "ENOTDIR", "EISDIR", "EINVAL", "ENFILE", "EMFILE", "ENOTTY", "ETXTBSY", "EFBIG",
        "ENOSPC", "ESPIPE", "EROFS", "EMLINK", "EPIPE", "EDOM", "ERANGE", "EDEADLK",
        "ENAMETOOLONG", "ENOLCK", "ENOSYS", "ENOTEMPTY", "ELOOP", "", "ENOMSG", "EIDRM", "ECHRNG",
        "EL2NSYNC", "EL3HLT", "EL3RST", "ELNRNG", "EUNATCH", "ENOCSI", "EL2HLT", "EBADE", "EBADR",
        "EXFULL", "ENOANO", "EBADRQC", "EBADSLT", "", "EBFONT", "ENOSTR", "ENODATA", "ETIME",
        "ENOSR", "ENONET", "ENOPKG", "EREMOTE", "ENOLINK", "EADV", "ESRMNT", "ECOMM", "EPROTO",
        "EMULTIHOP", "EDOTDOT", "EBADMSG", "EOVERFLOW", "ENOTUNIQ", "EBADFD", "EREMCHG", "ELIBACC",
        "ELIBBAD", "ELIBSCN", "ELIBMAX", "ELIBEXEC", "EILSEQ", "ERESTART", "ESTRPIPE", "EUSERS",
        "ENOTSOCK", "EDESTADDRREQ", "EMSGSIZE", "EPROTOTYPE", "ENOPROTOOPT", "EPROTONOSUPPORT",
        "ESOCKTNOSUPPORT", "EOPNOTSUPP", "EPFNOSUPPORT", "EAFNOSUPPORT", "EADDRINUSE",
        "EADDRNOTAVAIL", "ENETDOWN", "ENETUNREACH", "ENETRESET", "ECONNABORTED", "ECONNRESET",
        "ENOBUFS", "EISCONN", "ENOTCONN", "ESHUTDOWN", "ETOOMANYREFS", "ETIMEDOUT", "ECONNREFUSED",
        "EHOSTDOWN", "EHOSTUNREACH", "EALREADY", "EINPROGRESS", "ESTALE", "EUCLEAN", "ENOTNAM",
        "ENAVAIL", "EISNAM", "EREMOTEIO", "EDQUOT", "ENOMEDIUM", "EMEDIUMTYPE", "ECANCELED",
        "ENOKEY", "EKEYEXPIRED", "EKEYREVOKED", "EKEYREJECTED", "EOWNERDEAD", "ENOTRECOVERABLE",
        "ERFKILL", "EHWPOISON",
    ]

    /// `EADDRINUSE` for 98; nil for numbers Linux does not define.
    public static func name(_ number: Int32) -> StaticString? {
        guard number > 0, Int(number) < names.count, names[Int(number)].utf8CodeUnitCount > 0 else { return nil }
        return names[Int(number)]
    }

    /// The C library's text for a number Linux defines.
    public static func message(_ number: Int32) -> String? {
        guard number > 0, Int(number) < names.count else { return nil }
        return String(cString: strerror(number))
    }
}

/// `EADDRINUSE: Address already in use`, for diagnostics.
func errorName(_ number: Int32) -> String {
    let name = ErrnoNames.name(number).map { "\($0)" } ?? "errno \(number)"
    return "\(name): \(String(cString: strerror(number)))"
}
