import Foundation
import Logging

/// Compresses rotated files and enforces retention on its own thread, so the
/// event path never waits for zstd.
///
/// Files waiting for compression are never deleted by retention, so a
/// compressor slower than the event rate (a high level in a bind storm)
/// would fill the disk: when files pile up it compresses at level 1, which
/// outruns any event rate, until it has caught up, and says so.
final class BackgroundCompressor: @unchecked Sendable {
    private let condition = NSCondition()
    private var queue: [String] = []
    private var busy = false
    /// The file being compressed ("" when none).
    private var current = ""
    private var stopped = false
    /// Touched on the compressor's thread only.
    private var catchingUp = false
    private let compressor: ZstdCompressor?
    private let afterEach: @Sendable () -> Void
    private let logger: Logger

    /// Rotated files waiting behind the one being compressed from which the
    /// compressor is behind: one may wait while another is compressed.
    static let behindAt = 2

    /// The level for the next file, with `waiting` more files queued behind it.
    static func level(configured: Int32, waiting: Int) -> Int32 {
        waiting >= behindAt ? min(configured, 1) : configured
    }

    /// `compressor` nil: rotated files stay plain, only retention runs.
    init(compressor: ZstdCompressor?, afterEach: @escaping @Sendable () -> Void,
         logger: Logger) {
        self.compressor = compressor
        self.afterEach = afterEach
        self.logger = logger
        let thread = Thread { self.loop() }  // holds self until stop() ends the loop
        thread.name = "bindsnoop-zstd"
        thread.start()
    }

    /// An empty path runs retention only.
    func enqueue(_ path: String) {
        condition.lock()
        queue.append(path)
        condition.signal()
        condition.unlock()
    }

    /// The rotated files queued or being compressed.
    var backlog: [String] {
        condition.lock()
        defer { condition.unlock() }
        return (compressor == nil ? [] : queue.filter { !$0.isEmpty }) + (current.isEmpty ? [] : [current])
    }

    /// Compresses what is queued for up to `seconds`, then stops after the
    /// file in progress; what is left stays plain for the next start.
    func stop(within seconds: Double) {
        let deadline = Date().addingTimeInterval(seconds)
        condition.lock()
        while (!queue.isEmpty || busy) && condition.wait(until: deadline) {}
        stopped = true
        queue.removeAll()
        condition.broadcast()
        while busy { condition.wait() }
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while queue.isEmpty && !stopped { condition.wait() }
            if queue.isEmpty && stopped {
                condition.unlock()
                return
            }
            let path = queue.removeFirst()
            let waiting = queue.count(where: { !$0.isEmpty })
            busy = true
            current = compressor == nil ? "" : path
            condition.unlock()

            if let compressor, !path.isEmpty {
                let level = Self.level(configured: compressor.level, waiting: waiting)
                if level != compressor.level && !catchingUp {
                    catchingUp = true
                    logger.warning("compression is \(waiting + 1) rotated files behind at level \(compressor.level); compressing at level \(level) until it catches up (a lower sinks.file.level avoids this)")
                }
                do {
                    try compressor.compress(path, level: level)
                } catch {
                    logger.error("compressing \(path) failed: \(error); it stays uncompressed")
                }
            }
            afterEach()

            condition.lock()
            busy = false
            current = ""
            let caughtUp = catchingUp && queue.isEmpty
            condition.broadcast()
            condition.unlock()
            if caughtUp {
                catchingUp = false
                logger.info("compression has caught up; back to level \(compressor?.level ?? 0)")
            }
        }
    }
}
