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
///
/// A write that fails (ENOSPC, EDQUOT, EIO; the directory deleted or moved
/// away) stops nothing else: the file keeps its whole lines (a line cut by
/// the failure is taken back), the sink counts what it cannot write, retries
/// with capped backoff, recreates its directory when it can, and when it
/// writes again the first line is the in-band record of what it missed.
/// `on_error: stop` ends the run instead (exit 74).
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
    private let lockPath: String
    private let metrics: MetricEncoder
    private var size: UInt64 = 0
    private var openedAt: Double = 0
    /// Rotated files left plain for tailers, oldest first.
    private var held: [(path: String, rotatedAt: Double)] = []
    private let logger: Logger
    private var counters = SinkStatistics()

    /// What errors about the path name: the flag, variable or key it came from.
    private let pathSource: ConfigSource
    /// Set while the file cannot be written.
    private var outage: Outage?
    /// The outage just ended by its record, until a line follows the record:
    /// a file that takes the short record and not the next line takes the
    /// record back and stays in that outage (one record per gap, not one per try).
    private var resumed: (outage: Outage, offset: UInt64, recordBytes: UInt64)?

    /// What the sink missed since its writes began to fail, and when it tries again.
    private struct Outage {
        /// The errno that started it: the reason its drops are counted under.
        var reason: String
        var problem: SinkProblem
        var missed = LossTally()
        var nextAttempt: Double
        var backoff = RotatingFileSink.initialBackoff

        mutating func retryLater(now: Double) {
            nextAttempt = now + backoff
            backoff = min(backoff * 2, RotatingFileSink.maximumBackoff)
        }
    }

    static let initialBackoff = 0.1
    /// Free bytes the filesystem must have before a sink stopped by ENOSPC writes again.
    static let spaceToResume: UInt64 = 64 << 10
    static let maximumBackoff = 5.0

    /// `metrics`: writes the in-band record of what an outage missed.
    public init(settings: FileSinkSettings, pathSource: ConfigSource = .file(key: "sinks.file.path"),
                metrics: MetricEncoder = MetricEncoder(host: .current()), logger: Logger) throws(SinkError) {
        self.settings = settings
        self.pathSource = pathSource
        self.metrics = metrics
        activePath = settings.path
        let url = URL(fileURLWithPath: settings.path)
        directory = url.deletingLastPathComponent().path
        names = RotatedFileNames(activeName: url.lastPathComponent)
        policy = RotationPolicy(maxSize: settings.maxSize, maxAge: settings.maxAge, maxFiles: settings.maxFiles,
                                maxTotalSize: settings.maxTotalSize)
        self.logger = logger
        try SafeFiles.prepareDirectory(directory, source: pathSource)
        lockPath = "\(directory)/.\(url.lastPathComponent).lock"
        lockFD = try SafeFiles.lockExclusively(lockPath, mode: mode_t(settings.mode), source: pathSource)
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
        if outage != nil {
            try resume(now: false)
            guard outage == nil else { return drop(batch, from: 0) }
        }
        var start = 0  // first line of the run not yet written
        var runBytes = 0
        for i in 0..<batch.count {
            let lineBytes = batch.line(i).count
            if policy.needsRotation(currentSize: size + UInt64(runBytes), lineBytes: lineBytes) {
                guard try writeLines(batch, from: start, to: i), try attempt({ () throws(SinkError) in try rotate() }) else {
                    return drop(batch, from: outage == nil ? i : max(start, firstUnwritten ?? i))
                }
                start = i
                runBytes = 0
            }
            runBytes += lineBytes
        }
        guard try writeLines(batch, from: start, to: batch.count) else { return drop(batch, from: firstUnwritten ?? start) }
    }

    /// The first line of the last run that did not reach the file (set by `writeLines`).
    private var firstUnwritten: Int?

    /// Active files are cut by age here (by size, in `write`).
    public var interest: SinkInterest { .idle }

    public func tick() throws(SinkError) {
        if outage != nil {
            try resume(now: false)
        } else if !activeFileIsAtItsPath() {
            // Moved away (the directory renamed): what was written is in the
            // moved file; new lines go to the configured path again.
            logger.warning("the active file is no longer at its path: starting it again", metadata: ["path": "\(activePath)"])
            closeActive()
            _ = try attempt { () throws(SinkError) in try reopenAfterFailure() }
        } else if policy.isTooOld(currentSize: size, openedAt: openedAt, now: monotonicSeconds()) {
            _ = try attempt { () throws(SinkError) in try rotate() }
        }
        releaseHeld()
    }

    public func reopen() throws(SinkError) {
        if outage != nil { return try resume(now: true) }
        if size > 0 { _ = try attempt { () throws(SinkError) in try rotate() } }
    }

    /// Rotation creates files in the directory and renames them, so the
    /// directory, the active file and the lock become the user's.
    public func handOver(to uid: uid_t, gid: gid_t) throws(SinkError) {
        guard lchown(directory, uid, gid) == 0, fchown(fd, uid, gid) == 0, fchown(lockFD, uid, gid) == 0 else {
            throw .failed(sink: name, errno: errno)
        }
    }

    /// The lines reach the disk, or the sink says why not. Still failing at
    /// the end: one last try, then what it missed is logged.
    public func flush() throws(SinkError) {
        if outage != nil { try resume(now: true) }
        confirmResumed()  // the end: a record with no line after it stays
        if let outage {
            var metadata: Logger.Metadata = ["path": "\(activePath)", "events": "\(outage.missed.count)", "reason": "\(outage.reason)"]
            if let range = outage.missed.range {
                metadata["first_sequence"] = "\(range.lowerBound)"
                metadata["last_sequence"] = "\(range.upperBound)"
            }
            logger.error("events the file could not take and no record of them in it: \(outage.problem.reason)", metadata: metadata)
        }
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

    /// Writes lines `first..<end` whole; false if the file could not take
    /// them all (`firstUnwritten` says from which on, and the sink is in an
    /// outage). A line cut by the failure is taken back out of the file.
    private func writeLines(_ batch: LineBatch, from first: Int, to end: Int) throws(SinkError) -> Bool {
        guard end > first else { return true }
        let startOffset = first == 0 ? 0 : batch.lineEnds[first - 1]
        let bytes = UnsafeRawBufferPointer(rebasing: batch.bytes[startOffset..<batch.lineEnds[end - 1]])
        var written = 0
        var failure: Int32 = 0
        while written < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + written, bytes.count - written)
            if n > 0 {
                written += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                failure = n == 0 ? EIO : errno
                break
            }
        }
        // Whole lines only: count those that made it, cut what follows them.
        var whole = first
        while whole < end && batch.lineEnds[whole] - startOffset <= written { whole += 1 }
        let kept = whole == first ? 0 : batch.lineEnds[whole - 1] - startOffset
        if kept < written && ftruncate(fd, off_t(size + UInt64(kept))) != 0 {
            closeActive()  // reopening cuts the partial line (SafeFiles.openForAppend)
        }
        size += UInt64(kept)
        counters.lines += UInt64(whole - first)
        counters.bytes += UInt64(kept)
        if failure == 0 {
            confirmResumed()
            var status = stat()
            guard fd >= 0, fstat(fd, &status) == 0, status.st_nlink == 0 else { return true }
            // The file (or its directory) was deleted: these lines went
            // nowhere a reader can see. Write them again where the path is now.
            logger.warning("the active file was deleted: starting it again", metadata: ["path": "\(activePath)"])
            counters.lines -= UInt64(end - first)
            counters.bytes -= UInt64(written)
            closeActive()
            if try attempt({ () throws(SinkError) in try reopenAfterFailure() }) { return try writeLines(batch, from: first, to: end) }
            firstUnwritten = first
            return false
        }
        if whole > first { confirmResumed() }
        firstUnwritten = whole
        if whole == first, let back = resumed, fd >= 0, ftruncate(fd, off_t(back.offset)) == 0 {
            // Nothing after the record: it is taken back, the outage goes on.
            resumed = nil
            size = back.offset
            counters.bytes -= back.recordBytes
            var outage = back.outage
            outage.retryLater(now: monotonicSeconds())
            self.outage = outage
            return false
        }
        try fail(.failed(sink: name, errno: failure))
        return false
    }

    /// A line landed after the outage's record: the record stays.
    private func confirmResumed() {
        guard let back = resumed else { return }
        resumed = nil
        announceResumed(back.outage)
    }

    /// Whether the descriptor being written is the file at `activePath`.
    private func activeFileIsAtItsPath() -> Bool {
        var open = stat()
        var named = stat()
        guard fd >= 0, fstat(fd, &open) == 0 else { return false }
        guard lstat(activePath, &named) == 0 else { return false }
        return open.st_dev == named.st_dev && open.st_ino == named.st_ino
    }

    /// Runs `body`; a failure begins an outage (or, `on_error: stop`, ends the run).
    private func attempt(_ body: () throws(SinkError) -> Void) throws(SinkError) -> Bool {
        do {
            try body()
            return true
        } catch {
            try fail(error)
            return outage == nil
        }
    }

    /// A write, a rotation or an open failed: stop writing and say so once.
    /// One immediate retry (a directory recreated at once loses nothing).
    private func fail(_ error: SinkError) throws(SinkError) {
        if settings.onError == .stop { throw error }
        let now = monotonicSeconds()
        guard outage == nil else { return }
        let code: Int32 = switch error {
        case .failed(_, let errno), .syncFailed(_, let errno): errno
        case .readerGone: EPIPE
        case .setup: EIO
        }
        let reason = ErrnoNames.name(code).map { "\($0)" } ?? "errno \(code)"
        let problem = SinkProblem("cannot write \(activePath): \(Self.describe(error))", since: now)
        logger.error("\(problem.reason); dropping and counting events, retrying, other outputs go on", metadata: ["path": "\(activePath)"])
        outage = Outage(reason: reason, problem: problem, nextAttempt: now)
    }

    private static func describe(_ error: SinkError) -> String {
        switch error {
        case .failed(_, let errno), .syncFailed(_, let errno): errorName(errno)
        case .setup(let problem): problem.problem
        case .readerGone: "closed"
        }
    }

    /// Counts lines `first...` of the batch as missed (the outage's reason).
    private func drop(_ batch: LineBatch, from first: Int) {
        guard var outage, first < batch.count else { return }
        for i in first..<batch.count { outage.missed.add(sequence: batch.sequences[i]) }
        counters.dropped[outage.reason, default: 0] += UInt64(batch.count - first)
        self.outage = outage
    }

    /// When due (or `now`): the directory and the file again, then the
    /// record of what was missed, before any other line.
    private func resume(now force: Bool) throws(SinkError) {
        guard var outage else { return }
        let now = monotonicSeconds()
        guard force || now >= outage.nextAttempt else { return }
        do throws(SinkError) {
            if fd < 0 || !activeFileIsAtItsPath() {
                closeActive()
                try reopenAfterFailure()
            }
            // A full filesystem that has room for the record and not much
            // more is still full: waiting beats a record per retry.
            var space = statvfs()
            if outage.reason == "ENOSPC", fstatvfs(fd, &space) == 0,
               UInt64(space.f_bavail) * UInt64(space.f_frsize) < Self.spaceToResume {
                throw SinkError.failed(sink: name, errno: ENOSPC)
            }
            if !outage.missed.isEmpty {
                let offset = size
                try writeMissedRecord(outage)
                resumed = (outage, offset, size - offset)
            }
        } catch {
            if settings.onError == .stop { throw error }
            outage.problem.reason = "cannot write \(activePath): \(Self.describe(error))"
            outage.retryLater(now: now)
            self.outage = outage
            return
        }
        self.outage = nil
        if resumed == nil { announceResumed(outage) }
    }

    /// Says once that the file is written again (after the first line that
    /// follows the outage's record, or at once when nothing was missed).
    private func announceResumed(_ outage: Outage) {
        var metadata: Logger.Metadata = ["path": "\(activePath)", "missed": "\(outage.missed.count)",
                                         "seconds": "\(Int(monotonicSeconds() - outage.problem.since))"]
        if let range = outage.missed.range {
            metadata["first_sequence"] = "\(range.lowerBound)"
            metadata["last_sequence"] = "\(range.upperBound)"
        }
        logger.info("writing again", metadata: metadata)
    }

    /// The directory (recreated if it is gone, checked as at start), the
    /// lock, and the active file at its path.
    private func reopenAfterFailure() throws(SinkError) {
        try SafeFiles.prepareDirectory(directory, source: pathSource)
        var held = stat()
        var named = stat()
        if lockFD < 0 || fstat(lockFD, &held) != 0 || lstat(lockPath, &named) != 0 || held.st_ino != named.st_ino {
            let fresh = try SafeFiles.lockExclusively(lockPath, mode: mode_t(settings.mode), source: pathSource)
            if lockFD >= 0 { Glibc.close(lockFD) }
            lockFD = fresh
        }
        try openActive()
    }

    /// The in-band record of the outage: whole, or not at all.
    private func writeMissedRecord(_ outage: Outage) throws(SinkError) {
        var out = OutputBuffer(capacity: 512)
        let total = counters.dropped.values.reduce(0, +)
        metrics.encodeLoss(source: name, reason: outage.reason, lost: outage.missed.count, total: total,
                           unixNanoseconds: realtimeNanoseconds(), sequence: nil, range: outage.missed.range, into: &out)
        let written = out.bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == out.bytes.count else {
            let reason = written < 0 ? errno : ENOSPC
            if written > 0 { ftruncate(fd, off_t(size)) }
            throw .failed(sink: name, errno: reason)
        }
        size += UInt64(written)
        counters.bytes += UInt64(written)
    }

    private func closeActive() {
        guard fd >= 0 else { return }
        Glibc.close(fd)
        fd = -1
    }

    private func rotate() throws(SinkError) {
        confirmResumed()  // the record stays in the file it ends
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
        statistics.problem = outage?.problem
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
