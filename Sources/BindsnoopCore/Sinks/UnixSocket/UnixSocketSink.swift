import Foundation
import Logging

/// Lines to a log forwarder's Unix socket (Vector, Fluent Bit, syslog-ng),
/// bindsnoop being the client. `stream`: newline-framed; `datagram`: one
/// line per datagram. Never blocks the event loop: every send is
/// non-blocking, and what the socket does not take waits in a bounded
/// buffer. While the forwarder is away it reconnects with capped
/// exponential backoff. When the buffer is full the newest lines are
/// dropped (never one already sent), counted, and reported in-band by one
/// record at the place of the gap (its count exact, with the sequence
/// range) as soon as there is room again. Lines are forgotten as soon as
/// the kernel says the peer read them (`LineQueue`); after a broken
/// connection only the rest is sent again, whole lines only.
public final class UnixSocketSink: ScheduledSink {
    public let name = "unix"
    private let settings: UnixSinkSettings
    private let logger: Logger
    /// Writes the in-band loss record.
    private let metrics: MetricEncoder

    private var fd: Int32 = -1
    private var queue = LineQueue()
    private var nextAttempt: Double = 0
    private var backoff: Double = UnixSocketSink.initialBackoff
    private var wasConnected = false
    private var everConnected = false
    private var sendQueueDrained = true

    private var unreported = LossTally()
    private var lostTotal: UInt64 = 0
    private var counters = SinkStatistics()
    /// The last send that moved bytes, or the last time nothing was waiting.
    private var lastProgress = monotonicSeconds()
    /// Since when no connection could be made, and why (nil while connected).
    private var unreachable: SinkProblem?
    /// The last reason logged for not reaching the forwarder: each new one is logged once.
    private var loggedReason: String?

    static let initialBackoff = 0.1
    static let maximumBackoff = 5.0
    /// At most this much per send(2): each send is one kernel buffer, and the
    /// peer's partly read buffer counts as unread, so this bounds what a
    /// reconnect sends twice.
    static let maximumSend = 16 << 10
    /// Room kept for the in-band loss record (it is about 450 bytes).
    static let lossRecordRoom: UInt64 = 1024
    /// Lines waiting this long without a byte sent: the forwarder is stuck.
    static let stalledAfter = 2.0

    public init(settings: UnixSinkSettings, metrics: MetricEncoder, logger: Logger) {
        self.settings = settings
        self.metrics = metrics
        self.logger = logger
        connectIfDue()
    }

    /// Lines to send, a loss to report, or a send queue to watch drain.
    var hasPending: Bool { queue.hasUnsent || !unreported.isEmpty || !sendQueueDrained }

    /// Bytes held for the forwarder: never more than `buffer` plus one line.
    var bufferedBytes: UInt64 { queue.byteCount }

    public var statistics: SinkStatistics {
        var statistics = counters
        if lostTotal > 0 { statistics.dropped["buffer_full"] = lostTotal }
        statistics.bufferedBytes = bufferedBytes
        statistics.problem = problem(now: monotonicSeconds())
        return statistics
    }

    /// Unreachable, or connected with lines the forwarder has not taken for `stalledAfter`.
    private func problem(now: Double) -> SinkProblem? {
        if let unreachable { return unreachable }
        guard hasPending, now - lastProgress >= Self.stalledAfter else { return nil }
        return SinkProblem("the forwarder at \(settings.path) is not reading; \(bufferedBytes) of \(settings.buffer) bytes buffered",
                           since: lastProgress)
    }

    /// Connected with lines the socket would not take yet: wake when it can.
    private var writableWaitDescriptor: Int32? { fd >= 0 && queue.hasUnsent ? fd : nil }

    public var interest: SinkInterest {
        if let fd = writableWaitDescriptor { return .writable(fd) }
        return hasPending ? .soon : .idle
    }

    public func write(_ batch: LineBatch) throws(SinkError) {
        for i in 0..<batch.count {
            let line = batch.line(i)
            if !unreported.isEmpty { appendLossRecord(force: false) }
            // After a gap, nothing goes before the record that reports it.
            if unreported.isEmpty && queue.byteCount + UInt64(line.count) <= settings.buffer {
                queue.append(line, as: .event(sequence: batch.sequences[i]))
            } else {
                unreported.add(sequence: batch.sequences[i])
                lostTotal += 1
            }
        }
        deliver()
    }

    /// The record of what was dropped, where the gap is: once there is room
    /// for it (`force`: at shutdown, room or not).
    private func appendLossRecord(force: Bool) {
        guard force || queue.byteCount + Self.lossRecordRoom <= settings.buffer else { return }
        var out = OutputBuffer(capacity: 512)
        metrics.encodeLoss(source: name, reason: "buffer_full", lost: unreported.count, total: lostTotal,
                           unixNanoseconds: realtimeNanoseconds(), sequence: nil, range: unreported.range, into: &out)
        out.bytes.withUnsafeBytes { queue.append($0, as: .lossReport(unreported)) }
        unreported = LossTally()
    }

    public func tick() throws(SinkError) {
        deliver()
    }

    public func reopen() throws(SinkError) {
        disconnect(reason: nil)
        nextAttempt = 0
        deliver()
    }

    /// Sends what is buffered and waits for the peer to read it, for at most
    /// `drain_timeout`; what is left is logged with its sequence range.
    public func flush() throws(SinkError) {
        let deadline = monotonicSeconds() + settings.drainTimeout
        if !unreported.isEmpty { appendLossRecord(force: true) }
        while hasPending && monotonicSeconds() < deadline {
            if fd < 0 { nextAttempt = min(nextAttempt, monotonicSeconds()) }
            deliver()
            if hasPending { waitUntilWritable(milliseconds: 20) }
        }
        // Nothing unread and no hang-up: a datagram peer's reads are taken
        // as such here (nothing more will be sent to tell).
        if fd >= 0 && !queue.hasUnsent && unreadBytes() == 0 && !probePeerGone() {
            queue.peerHasNotRead(0, peerAlive: true)
        }
        // Events never dropped but not known read, and the drops whose
        // record was not known read: each counted once.
        let (abandoned, unreportedDrops) = queue.unacknowledged
        if !abandoned.isEmpty || !unreportedDrops.isEmpty {
            var metadata: Logger.Metadata = ["path": "\(settings.path)", "events": "\(abandoned.count)",
                                             "drain_timeout": "\(settings.drainTimeout)"]
            if let range = abandoned.range {
                metadata["first_sequence"] = "\(range.lowerBound)"
                metadata["last_sequence"] = "\(range.upperBound)"
            }
            if !unreportedDrops.isEmpty { metadata["dropped_unreported"] = "\(unreportedDrops.count)" }
            logger.warning("events not confirmed read by the forwarder at shutdown", metadata: metadata)
        }
    }

    public func close() {
        disconnect(reason: nil)
    }

    // MARK: - Delivery

    private func deliver() {
        defer { if !hasPending { lastProgress = monotonicSeconds() } }
        if !unreported.isEmpty { appendLossRecord(force: false) }
        connectIfDue()
        guard fd >= 0 else { return }
        while queue.hasUnsent {
            let sent: Int
            switch settings.mode {
            case .stream:
                sent = queue.withUnsentBytes {
                    send(fd, $0.baseAddress, min($0.count, Self.maximumSend), Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
                }
            case .datagram:
                sent = queue.withNextLineWithoutNewline { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
            }
            if sent < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == ENOBUFS { break }
                disconnect(reason: errno)
                return
            }
            counters.bytes += UInt64(sent)
            if sent > 0 { lastProgress = monotonicSeconds() }
            if settings.mode == .stream {
                counters.lines += UInt64(queue.sent(bytes: sent))
            } else {
                queue.sentLine()
                counters.lines += 1
            }
            queue.acknowledgeConfirmed()
        }
        // First the queue, then the hang-up: the kernel marks a hang-up
        // before it discards what the dead peer had not read.
        guard let unread = unreadBytes() else { return }
        let gone = probePeerGone()
        queue.peerHasNotRead(unread, peerAlive: settings.mode == .stream && !gone)
        sendQueueDrained = unread == 0
        if gone { disconnect(reason: ECONNRESET) }
    }

    private func waitUntilWritable(milliseconds: Int32) {
        guard let fd = writableWaitDescriptor else {
            usleep(UInt32(milliseconds) * 1000)
            return
        }
        var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        _ = poll(&pfd, 1, milliseconds)
    }

    /// Bytes sent that the peer has not read (SIOCOUTQ, with the kernel's
    /// buffer overhead); nil if the kernel will not say.
    private func unreadBytes() -> Int? {
        var unread: Int32 = 0
        return ioctl(fd, UInt(TIOCOUTQ), &unread) == 0 ? Int(unread) : nil
    }

    /// A stream peer that closed shows as readable with EOF (or an error).
    private func probePeerGone() -> Bool {
        guard settings.mode == .stream else { return false }
        var pfd = pollfd(fd: fd, events: Int16(POLLIN | pollReadHangUp), revents: 0)
        guard poll(&pfd, 1, 0) == 1 else { return false }
        return pfd.revents & Int16(pollReadHangUp | POLLHUP | POLLERR) != 0
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
        if everConnected { counters.reconnects += 1 }
        everConnected = true
        unreachable = nil
        lastProgress = monotonicSeconds()
        if !wasConnected {
            logger.info("connected", metadata: ["path": "\(settings.path)", "mode": "\(settings.mode.rawValue)"])
            wasConnected = true
            loggedReason = nil
        }
    }

    /// Each new reason is logged once (EACCES after a connection reset is
    /// named, not retried silently); the same one again is only retried.
    private func scheduleRetry(reason: String) {
        if reason != loggedReason {
            var hint = ""
            if reason.hasPrefix("EACCES") {
                hint = " (this process, uid \(geteuid()), may not connect to it: give the socket's group or mode to bindsnoop's user)"
            }
            logger.warning("cannot reach \(settings.path): \(reason)\(hint); buffering up to \(settings.buffer) bytes and retrying")
            loggedReason = reason
        }
        wasConnected = false
        if unreachable == nil { unreachable = SinkProblem("cannot reach \(settings.path): \(reason)", since: monotonicSeconds()) }
        unreachable?.reason = "cannot reach \(settings.path): \(reason)"
        nextAttempt = monotonicSeconds() + backoff
        backoff = min(backoff * 2, Self.maximumBackoff)
    }

    private func disconnect(reason: Int32?) {
        guard fd >= 0 else { return }
        Glibc.close(fd)
        fd = -1
        sendQueueDrained = true
        queue.rewind()  // what the peer may not have read goes again, whole lines
        if let reason {
            scheduleRetry(reason: "connection lost (\(errorName(reason)))")
        }
    }
}

private let pollReadHangUp: Int32 = 0x2000  // POLLRDHUP (needs _GNU_SOURCE in C)
