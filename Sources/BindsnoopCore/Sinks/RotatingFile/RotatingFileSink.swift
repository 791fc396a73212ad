import Foundation
import Logging

/// NDJSON to a file a forwarder can tail. At `max_size` or `max_age`, or on
/// SIGHUP, the file is closed between two lines and renamed with a UTC
/// timestamp (`rotation: new-file`: it had that name from the start, and a
/// new dated file begins); it stays plain for `compress_after` seconds and, the newest,
/// until the next rotation (a tailer finishes it under its new name), then
/// is compressed with zstd on another thread; `max_files` and
/// `max_total_size` bound what is kept. Only whole lines are written, files
/// are opened with O_NOFOLLOW, and what a crash left behind (a partial last
/// line, an uncompressed rotated file, a partial .zst) is repaired at start.
public final class RotatingFileSink: ScheduledSink, FileOwningSink {
    public let name = "file"
    private let settings: FileSinkSettings
    private let directory: String
    private let names: RotatedFileNames
    private let policy: RotationPolicy
    private let compressor: BackgroundCompressor
    private var fd: Int32 = -1
    /// The file being written: `path`, or (new-file) its dated name.
    private var activePath: String
    private var lockFD: Int32 = -1
    private var size: UInt64 = 0
    private var openedAt: Double = 0
    /// Rotated files left plain for tailers, oldest first.
    private var held: [(path: String, rotatedAt: Double)] = []
    private let logger: Logger
    private var counters = SinkStatistics()

    /// What errors about the path name: the flag, variable or key it came from.
    private let pathSource: ConfigSource

    public init(settings: FileSinkSettings, pathSource: ConfigSource = .file(key: "sinks.file.path"),
                logger: Logger) throws(SinkError) {
        self.settings = settings
        self.pathSource = pathSource
        activePath = settings.path
        let url = URL(fileURLWithPath: settings.path)
        directory = url.deletingLastPathComponent().path
        names = RotatedFileNames(activeName: url.lastPathComponent)
        policy = RotationPolicy(maxSize: settings.maxSize, maxAge: settings.maxAge, maxFiles: settings.maxFiles,
                                maxTotalSize: settings.maxTotalSize)
        self.logger = logger
        try SafeFiles.prepareDirectory(directory, source: pathSource)
        lockFD = try SafeFiles.lockExclusively("\(directory)/.\(url.lastPathComponent).lock", mode: mode_t(settings.mode),
                                               source: pathSource)
        let (directory, names, policy) = (self.directory, self.names, self.policy)
        let kept: RotatedFileNames.Kind = settings.compression == .zstd ? .compressed : .plain
        // Plain and dated, the file being written counts as rotated: spare it.
        let newestIsActive = kept == .plain && settings.rotation == .newFile
        compressor = BackgroundCompressor(
            compressor: settings.compression == .zstd ? ZstdCompressor(level: settings.level, mode: mode_t(settings.mode)) : nil,
            afterEach: {
                Self.enforceRetention(directory: directory, names: names, kind: kept, policy: policy,
                                      sparingNewest: newestIsActive, logger: logger)
            },
            logger: logger)
        recoverFromCrash()
        releaseHeld()
        do {
            try openActive()
        } catch {
            compressor.stop(within: 0)
            Glibc.close(lockFD)
            throw error
        }
    }

    public func write(_ batch: LineBatch) throws(SinkError) {
        var start = 0  // first line of the run not yet written
        var runBytes = 0
        for i in 0..<batch.count {
            let lineBytes = batch.line(i).count
            if policy.needsRotation(currentSize: size + UInt64(runBytes), lineBytes: lineBytes) {
                try writeLines(batch, from: start, to: i)
                try rotate()
                start = i
                runBytes = 0
            }
            runBytes += lineBytes
        }
        try writeLines(batch, from: start, to: batch.count)
    }

    /// Active files are cut by age here (by size, in `write`).
    public var interest: SinkInterest { .idle }

    public func tick() throws(SinkError) {
        if policy.isTooOld(currentSize: size, openedAt: openedAt, now: monotonicSeconds()) {
            try rotate()
        }
        releaseHeld()
    }

    public func reopen() throws(SinkError) {
        if size > 0 { try rotate() }
    }

    /// Rotation creates files in the directory and renames them, so the
    /// directory, the active file and the lock become the user's.
    public func handOver(to uid: uid_t, gid: gid_t) throws(SinkError) {
        guard lchown(directory, uid, gid) == 0, fchown(fd, uid, gid) == 0, fchown(lockFD, uid, gid) == 0 else {
            throw .failed(sink: name, errno: errno)
        }
    }

    /// The lines reach the disk, or the sink says why not.
    public func flush() throws(SinkError) {
        if fd >= 0 && fsync(fd) != 0 { throw .syncFailed(sink: name, errno: errno) }
    }

    /// Finishes the current file (it stays the active one) and gives the
    /// compressor a few seconds; rotated files still waiting then are
    /// compressed at the next start.
    public func close() {
        if fd >= 0 {
            if fsync(fd) != 0 {
                logger.error("the last lines may not have reached the disk", metadata: ["path": "\(activePath)", "error": "\(errorName(errno))"])
            }
            Glibc.close(fd)
            fd = -1
        }
        compressor.stop(within: Self.shutdownCompressionSeconds)
        if lockFD >= 0 {
            Glibc.close(lockFD)
            lockFD = -1
        }
    }

    static let shutdownCompressionSeconds = 5.0

    private func writeLines(_ batch: LineBatch, from first: Int, to end: Int) throws(SinkError) {
        guard end > first else { return }
        let startOffset = first == 0 ? 0 : batch.lineEnds[first - 1]
        let bytes = UnsafeRawBufferPointer(rebasing: batch.bytes[startOffset..<batch.lineEnds[end - 1]])
        do throws(Errno) {
            try writeAll(fd: fd, bytes)
        } catch {
            throw .writing(error, sink: name)
        }
        size += UInt64(bytes.count)
        counters.lines += UInt64(end - first)
        counters.bytes += UInt64(bytes.count)
    }

    private func rotate() throws(SinkError) {
        if fd >= 0 {
            // The file is handed to the compressor and the tailers complete, or not at all.
            let synced = fsync(fd) == 0 ? 0 : errno
            Glibc.close(fd)
            fd = -1
            if synced != 0 { throw .syncFailed(sink: name, errno: synced) }
        }
        var rotated = activePath
        if settings.rotation == .rename {
            rotated = "\(directory)/\(names.rotatedName(unixNanoseconds: realtimeNanoseconds()))"
            guard rename(settings.path, rotated) == 0 else { throw .failed(sink: name, errno: errno) }
        }
        held.append((rotated, monotonicSeconds()))
        counters.rotations += 1
        releaseHeld()
        try openActive()
    }

    /// The backlog is counted when asked (a stat(2) per file waiting).
    public var statistics: SinkStatistics {
        var statistics = counters
        let waiting = settings.compression == .zstd ? held.map(\.path) + compressor.backlog : []
        statistics.backlogFiles = UInt64(waiting.count)
        statistics.backlogBytes = waiting.reduce(0) { total, path in
            var status = stat()
            return total + (stat(path, &status) == 0 ? UInt64(status.st_size) : 0)
        }
        return statistics
    }

    /// Hands the compressor the rotated files tailers have had time to finish.
    private func releaseHeld() {
        guard settings.compression == .zstd else {
            if !held.isEmpty { compressor.enqueue("") }  // retention only
            held.removeAll()
            return
        }
        let count = RotationPolicy.compressible(rotatedAt: held.map(\.rotatedAt), now: monotonicSeconds(),
                                                grace: settings.compressAfter)
        for file in held.prefix(count) { compressor.enqueue(file.path) }
        held.removeFirst(count)
    }

    private func openActive() throws(SinkError) {
        if settings.rotation == .newFile {
            activePath = "\(directory)/\(names.rotatedName(unixNanoseconds: realtimeNanoseconds()))"
        }
        let (descriptor, existing) = try SafeFiles.openForAppend(activePath, mode: mode_t(settings.mode), source: pathSource)
        fd = descriptor
        size = existing
        openedAt = monotonicSeconds()
    }

    /// A stop (or a kill -9) can leave rotated files plain and a .zst.tmp
    /// half written: the first are held as if just rotated (a tailer may be
    /// reading the newest), the second removed. A partial last line in
    /// the active file is cut (`SafeFiles.openForAppend`).
    private func recoverFromCrash() {
        let entries = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
        // Every partial archive goes before any compression starts: the
        // compressor writes `X.ndjson.zst.tmp` for `X.ndjson`, and an unlink
        // in the same pass could hit the one it has just begun.
        for entry in entries where names.classify(entry) == .partialCompression {
            unlink("\(directory)/\(entry)")
        }
        let plain = entries.filter { names.classify($0) == .plain }
        if settings.rotation == .newFile, let last = plain.last,
           let (descriptor, _) = try? SafeFiles.openForAppend("\(directory)/\(last)", mode: mode_t(settings.mode), source: pathSource) {
            Glibc.close(descriptor)  // the file being written when it stopped: a partial last line is cut
        }
        if settings.compression == .zstd {
            for entry in plain {
                held.append(("\(directory)/\(entry)", monotonicSeconds()))
            }
        }
        compressor.enqueue("")  // retention once at start, even with nothing to compress
    }

    /// Only finished files of `kind` count: plain files still waiting for
    /// compression are never deleted.
    private static func enforceRetention(directory: String, names: RotatedFileNames, kind: RotatedFileNames.Kind,
                                         policy: RotationPolicy, sparingNewest: Bool, logger: Logger) {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var files: [(name: String, bytes: UInt64)] = []
        for entry in entries {
            guard names.classify(entry) == kind else { continue }
            var status = stat()
            guard lstat("\(directory)/\(entry)", &status) == 0 else { continue }
            files.append((entry, UInt64(status.st_size)))
        }
        if sparingNewest, let newest = files.map(\.name).max() { files.removeAll { $0.name == newest } }
        for old in policy.filesToDelete(files) where unlink("\(directory)/\(old)") != 0 {
            logger.warning("could not delete an old rotated file", metadata: ["file": "\(old)", "error": "\(errorName(errno))"])
        }
    }
}
