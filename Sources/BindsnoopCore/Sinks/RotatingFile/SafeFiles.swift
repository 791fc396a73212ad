import Foundation

/// Opening the files bindsnoop writes without being tricked: no symlinks,
/// no directories others may write to, modes as configured.
enum SafeFiles {
    /// Creates the directory (0750) if missing; refuses one that others may
    /// write to or that this process cannot write to.
    static func prepareDirectory(_ path: String, source: ConfigSource) throws(SinkError) {
        var status = stat()
        if lstat(path, &status) != 0 {
            guard errno == ENOENT else { throw .setup(ConfigError(source: source, "directory \(path): \(errorName(errno))")) }
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o750])
            } catch {
                throw .setup(ConfigError(source: source, "cannot create directory \(path): \((error as NSError).localizedDescription)"))
            }
            guard lstat(path, &status) == 0 else { throw .setup(ConfigError(source: source, "directory \(path): \(errorName(errno))")) }
        }
        guard status.st_mode & S_IFMT == S_IFDIR else {
            throw .setup(ConfigError(source: source, "\(path) is not a directory (symlinks are refused)"))
        }
        guard status.st_mode & S_IWOTH == 0 else {
            throw .setup(ConfigError(source: source, "directory \(path) is writable by others: chmod o-w it or choose another"))
        }
        guard access(path, W_OK) == 0 else {
            throw .setup(ConfigError(source: source, "directory \(path) is not writable by this user"))
        }
    }

    /// Takes an exclusive lock on `path` (created with `mode`), held until the
    /// descriptor is closed or the process ends, however it ends: two
    /// bindsnoop processes never rotate or compress the same files.
    static func lockExclusively(_ path: String, mode: mode_t, source: ConfigSource) throws(SinkError) -> Int32 {
        let fd = try openNoFollow(path, flags: O_RDWR | O_CREAT, mode: mode, what: "lock file ", source: source)
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            Glibc.close(fd)
            throw .setup(ConfigError(source: source, reason == EWOULDBLOCK
                ? "another bindsnoop is writing these files (\(path) is locked): give each instance its own path"
                : "cannot lock \(path): \(errorName(reason))"))
        }
        return fd
    }

    /// Opens (creating with `mode`) for appending whole lines; never through a
    /// symlink. A last line without its newline (a crash mid-write) is cut.
    /// Returns the descriptor and the size after repair.
    static func openForAppend(_ path: String, mode: mode_t, source: ConfigSource) throws(SinkError) -> (Int32, UInt64) {
        let fd = try openNoFollow(path, flags: O_WRONLY | O_APPEND | O_CREAT, mode: mode, what: "", source: source)
        var status = stat()
        fstat(fd, &status)
        guard status.st_mode & S_IFMT == S_IFREG else {
            Glibc.close(fd)
            throw .setup(ConfigError(source: source, "\(path) is not a regular file"))
        }
        if status.st_size == 0 { fchmod(fd, mode) }  // new (or empty): the configured mode despite umask
        let complete = completeLinesLength(path: path, size: UInt64(status.st_size))
        if complete < UInt64(status.st_size) { ftruncate(fd, off_t(complete)) }
        return (fd, complete)
    }

    /// open(2) that never follows a symlink at `path`, its failure as one line for `key`.
    private static func openNoFollow(_ path: String, flags: Int32, mode: mode_t, what: String,
                                     source: ConfigSource) throws(SinkError) -> Int32 {
        let fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else {
            let reason = errno == ELOOP ? "is a symlink: refused" : errorName(errno)
            throw .setup(ConfigError(source: source, "cannot open \(what)\(path): \(reason)"))
        }
        return fd
    }

    /// Length up to and including the last newline.
    static func completeLinesLength(path: String, size: UInt64) -> UInt64 {
        guard size > 0 else { return 0 }
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return size }
        defer { Glibc.close(fd) }
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        var end = size
        while end > 0 {
            let start = end > UInt64(chunk.count) ? end - UInt64(chunk.count) : 0
            let n = pread(fd, &chunk, Int(end - start), off_t(start))
            guard n > 0 else { return size }
            if let last = chunk[0..<n].lastIndex(of: UInt8(ascii: "\n")) {
                return start + UInt64(last) + 1
            }
            end = start
        }
        return 0
    }
}
