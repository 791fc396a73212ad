import Foundation

/// Compresses rotated files and enforces retention on its own thread, so the
/// event path never waits for zstd.
final class BackgroundCompressor: @unchecked Sendable {
    private let condition = NSCondition()
    private var queue: [String] = []
    private var busy = false
    private var stopped = false
    private let compressor: ZstdCompressor?
    private let afterEach: @Sendable () -> Void
    private let onError: @Sendable (String) -> Void

    /// `compressor` nil: rotated files stay plain, only retention runs.
    init(compressor: ZstdCompressor?, afterEach: @escaping @Sendable () -> Void,
         onError: @escaping @Sendable (String) -> Void) {
        self.compressor = compressor
        self.afterEach = afterEach
        self.onError = onError
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
            busy = true
            condition.unlock()

            if let compressor, !path.isEmpty {
                do {
                    try compressor.compress(path)
                } catch {
                    onError("compressing \(path) failed: \(error); it stays uncompressed")
                }
            }
            afterEach()

            condition.lock()
            busy = false
            condition.broadcast()
            condition.unlock()
        }
    }
}
