import Foundation

/// Lines to a log forwarder's Unix socket (Vector, Fluent Bit, syslog-ng),
/// bindsnoop being the client. `stream`: newline-framed; `datagram`: one
/// line per datagram. Never blocks the event path: what the socket does not
/// take waits in a bounded buffer; while the forwarder is away it reconnects
/// with capped exponential backoff; when the buffer overflows the oldest
/// lines are dropped, counted, and reported in-band (with their sequence
/// range) once the forwarder is back. A line cut by a broken connection is
/// sent again whole.
public final class UnixSocketSink: Sink {
    public let name = "unix"
    private let settings: UnixSinkSettings
    private let log: @Sendable (String) -> Void
    /// Builds the in-band loss record: (lost, total, first…last sequence) → one line.
    private let lossRecord: (UInt64, UInt64, ClosedRange<UInt64>?) -> [UInt8]

    private var fd: Int32 = -1
    private var queue = LineQueue()
    private var nextAttempt: Double = 0
    private var backoff: Double = UnixSocketSink.initialBackoff
    private var wasConnected = false

    private var lostSinceReport: UInt64 = 0
    private var lostTotal: UInt64 = 0
    private var lostRange: ClosedRange<UInt64>?

    static let initialBackoff = 0.1
    static let maximumBackoff = 5.0
    static let shutdownDeadline = 2.0

    public init(settings: UnixSinkSettings, log: @escaping @Sendable (String) -> Void,
                lossRecord: @escaping (UInt64, UInt64, ClosedRange<UInt64>?) -> [UInt8]) {
        self.settings = settings
        self.log = log
        self.lossRecord = lossRecord
        connectIfDue()
    }

    public var hasPending: Bool { !queue.isEmpty || lostSinceReport > 0 }

    public func write(_ batch: LineBatch) throws(SinkError) {
        for i in 0..<batch.count {
            queue.append(batch.line(i), sequence: batch.sequences[i])
        }
        dropOldestBeyondBuffer()
        deliver()
    }

    public func housekeeping() throws(SinkError) {
        deliver()
    }

    public func reopen() throws(SinkError) {
        disconnect(reason: nil)
        nextAttempt = 0
        deliver()
    }

    /// Sends what is buffered for at most a couple of seconds; the rest is lost and logged.
    public func flush() throws(SinkError) {
        let deadline = monotonicSeconds() + Self.shutdownDeadline
        while hasPending && monotonicSeconds() < deadline {
            if fd < 0 { nextAttempt = min(nextAttempt, monotonicSeconds()) }
            deliver()
            if hasPending { usleep(20_000) }
        }
        if !queue.isEmpty {
            log("\(settings.path): \(queue.count) events could not be delivered before shutdown")
        }
    }

    public func close() {
        disconnect(reason: nil)
    }

    // MARK: - Delivery

    private func deliver() {
        connectIfDue()
        guard fd >= 0 else { return }
        if lostSinceReport > 0 {
            queue.insertBeforeUnsent(lossRecord(lostSinceReport, lostTotal, lostRange), sequence: 0)
            lostSinceReport = 0
            lostRange = nil
        }
        while queue.hasUnsent {
            let sent: Int
            switch settings.mode {
            case .stream:
                sent = queue.withUnsentBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
            case .datagram:
                sent = queue.withNextLineWithoutNewline { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
            }
            if sent < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == ENOBUFS { break }
                disconnect(reason: errno)
                return
            }
            if settings.mode == .stream {
                queue.sent(bytes: sent)
            } else {
                queue.sentLine()
            }
        }
        acknowledgeIfRead()
    }

    /// Everything handed to the socket has been read by the peer once its
    /// send queue is empty.
    private func acknowledgeIfRead() {
        var unread: Int32 = 0
        if ioctl(fd, UInt(TIOCOUTQ), &unread) == 0 && unread == 0 {
            queue.acknowledgeSent()
        } else if probePeerGone() {
            disconnect(reason: ECONNRESET)
        }
    }

    /// A stream peer that closed shows as readable with EOF (or an error).
    private func probePeerGone() -> Bool {
        guard settings.mode == .stream else { return false }
        var pfd = pollfd(fd: fd, events: Int16(POLLIN | pollReadHangUp), revents: 0)
        guard poll(&pfd, 1, 0) == 1 else { return false }
        return pfd.revents & Int16(pollReadHangUp | POLLHUP | POLLERR) != 0
    }

    private func dropOldestBeyondBuffer() {
        while queue.byteCount > settings.buffer, let (sequence, wasSent) = queue.dropOldest() {
            if wasSent { continue }
            lostSinceReport += 1
            lostTotal += 1
            if sequence > 0 {
                lostRange = lostRange.map { min($0.lowerBound, sequence)...max($0.upperBound, sequence) } ?? sequence...sequence
            }
        }
    }

    private func connectIfDue() {
        guard fd < 0, monotonicSeconds() >= nextAttempt else { return }
        var status = stat()
        if lstat(settings.path, &status) == 0, status.st_mode & S_IFMT != S_IFSOCK {
            scheduleRetry(reason: "\(settings.path) exists but is not a socket")
            return
        }
        let type = settings.mode == .stream ? Int32(SOCK_STREAM.rawValue) : Int32(SOCK_DGRAM.rawValue)
        let socketFD = socket(AF_UNIX, type | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard socketFD >= 0 else {
            scheduleRetry(reason: errorName(errno))
            return
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(settings.path.utf8).prefix($0.count - 1)) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socketFD, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            let reason = errno
            Glibc.close(socketFD)
            scheduleRetry(reason: errorName(reason))
            return
        }
        fd = socketFD
        backoff = Self.initialBackoff
        if !wasConnected {
            log("connected to \(settings.path) (\(settings.mode.rawValue))")
            wasConnected = true
        }
    }

    private func scheduleRetry(reason: String) {
        if wasConnected || nextAttempt == 0 {
            log("cannot reach \(settings.path): \(reason); buffering up to \(settings.buffer) bytes and retrying")
            wasConnected = false
        }
        nextAttempt = monotonicSeconds() + backoff
        backoff = min(backoff * 2, Self.maximumBackoff)
    }

    private func disconnect(reason: Int32?) {
        guard fd >= 0 else { return }
        Glibc.close(fd)
        fd = -1
        queue.rewind()  // what the peer may not have read goes again, whole lines
        if let reason {
            scheduleRetry(reason: "connection lost (\(errorName(reason)))")
        }
    }
}

/// Lines not yet known to be read by the forwarder, oldest first. A line
/// stays after it is sent until the socket's send queue (SIOCOUTQ) is empty,
/// that is, until the peer has read it: if the connection breaks first, it is
/// sent again, whole. Delivery is at least once; `event.sequence` tells
/// duplicates apart.
struct LineQueue {
    private var storage: [UInt8] = []
    private var ends: [Int] = []         // end offsets in storage
    private var sequences: [UInt64] = []
    private var acknowledged = 0         // first line not known to be read
    private var sendLine = 0             // line holding the next byte to send
    private var cursor = 0               // next byte to send

    /// Nothing unsent and nothing unacknowledged.
    var isEmpty: Bool { acknowledged == ends.count }
    var hasUnsent: Bool { cursor < storage.count }
    var count: Int { ends.count - acknowledged }
    var byteCount: UInt64 { UInt64(storage.count - start(of: acknowledged)) }

    private func start(of line: Int) -> Int { line == 0 ? 0 : ends[line - 1] }

    mutating func append(_ line: UnsafeRawBufferPointer, sequence: UInt64) {
        storage.append(contentsOf: line)
        ends.append(storage.count)
        sequences.append(sequence)
    }

    /// Puts a line before every unsent one (the in-band loss record).
    mutating func insertBeforeUnsent(_ line: [UInt8], sequence: UInt64) {
        let at = start(of: sendLine)
        storage.insert(contentsOf: line, at: at)
        ends.insert(at, at: sendLine)
        for i in sendLine..<ends.count { ends[i] += line.count }
        sequences.insert(sequence, at: sendLine)
        cursor = at
    }

    func withUnsentBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        storage.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[cursor...])) }
    }

    /// The next unsent line without its newline (datagram mode: cursor is at a line start).
    func withNextLineWithoutNewline<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        storage.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[cursor..<(ends[sendLine] - 1)])) }
    }

    mutating func sent(bytes: Int) {
        cursor += bytes
        while sendLine < ends.count && ends[sendLine] <= cursor { sendLine += 1 }
    }

    mutating func sentLine() {
        sent(bytes: ends[sendLine] - cursor)
    }

    /// The peer has read everything sent: forget the lines sent whole.
    mutating func acknowledgeSent() {
        acknowledged = sendLine
        compactIfWorthIt()
    }

    /// The connection broke: send again everything not acknowledged, from a line start.
    mutating func rewind() {
        sendLine = acknowledged
        cursor = start(of: acknowledged)
    }

    /// Forgets the oldest line to make room. Returns its sequence if it was
    /// never sent (lost); nil if it had gone to the socket (presumed read) or
    /// nothing can go (the line being sent right now stays).
    mutating func dropOldest() -> (sequence: UInt64, wasSent: Bool)? {
        guard !isEmpty else { return nil }
        if acknowledged < sendLine {  // sent, not yet confirmed
            acknowledged += 1
            compactIfWorthIt()
            return (0, true)
        }
        if cursor > start(of: acknowledged) {  // partly sent: keep it whole
            guard acknowledged + 1 < ends.count else { return nil }
            let victim = acknowledged + 1
            let (from, to) = (start(of: victim), ends[victim])
            storage.removeSubrange(from..<to)
            ends.remove(at: victim)
            for i in victim..<ends.count { ends[i] -= to - from }
            return (sequences.remove(at: victim), false)
        }
        let sequence = sequences[acknowledged]
        acknowledged += 1
        sendLine = max(sendLine, acknowledged)
        cursor = max(cursor, start(of: acknowledged))
        compactIfWorthIt()
        return (sequence, false)
    }

    private mutating func compactIfWorthIt() {
        if isEmpty {
            storage.removeAll(keepingCapacity: true)
            ends.removeAll(keepingCapacity: true)
            sequences.removeAll(keepingCapacity: true)
            (acknowledged, sendLine, cursor) = (0, 0, 0)
        } else if acknowledged > 1024 && acknowledged * 2 > ends.count {
            let offset = start(of: acknowledged)
            storage.removeFirst(offset)
            ends = ends[acknowledged...].map { $0 - offset }
            sequences.removeFirst(acknowledged)
            sendLine -= acknowledged
            cursor -= offset
            acknowledged = 0
        }
    }
}

private let pollReadHangUp: Int32 = 0x2000  // POLLRDHUP (needs _GNU_SOURCE in C)
