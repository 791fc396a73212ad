import Foundation
import Testing

/// Issue 11's check: a storm of socket+bind(port 0)+close calls started as
/// soon as `attached` appears is received in full, in every mode this kernel
/// allows (`attached` waits for the self-check: every program has seen one
/// of bindsnoop's own binds), and none of the self-check's binds is
/// reported. Runs where TEST_STORM=1 (the kernel matrix's storm cells).
@Suite(.serialized) struct StormTests {
    static let enabled = TestEnvironment.storm
    static let binds = TestEnvironment.stormBinds

    @Test(.root, .enabled(if: enabled, "TEST_STORM=1 runs it (the kernel matrix)"),
          arguments: ["fentry", "kprobe", "tracepoint", "cgroup"])
    func stormRightAfterAttachIsReceivedInFull(mode: String) throws {
        let probe = try run(Harness.bindsnoop, ["--probe", mode, "--duration", "0.3"])
        guard probe.status == 0 else {
            #expect(TestEnvironment.expectedModes?.contains(mode) != true, "storm \(mode): this kernel must attach it: \(probe.stderr)")
            print("storm \(mode): mode unavailable here (exit \(probe.status))")
            return
        }
        let tracer = try Tracer(["--probe", mode, "--ring-buffer-size", "64MiB"])
        let storm = try run(Harness.bindgen, ["--count", "\(Self.binds)", "--quiet", "--summary"])
        usleep(500_000)
        #expect(tracer.stop() == 0)
        // Counted in the bytes: String.contains over 20 000 lines in this debug
        // build took minutes in the matrix's emulated guests. Each socket
        // of the storm is closed at once: one bind line and one release line.
        let output = tracer.stdoutData
        let stormPID = "\"process\":{\"pid\":\(storm.pid),"
        let received = lines(in: output, containingAll: [#""action":"bind""#, stormPID])
        let released = lines(in: output, containingAll: [#""action":"release""#, stormPID])
        let ownBinds = lines(in: output, containingAll: ["\"process\":{\"pid\":\(tracer.process.processIdentifier),"])
        print("storm \(mode): \(received) of \(Self.binds) binds received, \(Self.binds - received) missed; \(released) released")
        #expect(storm.stdout.contains("\"failures\":0"), "\(storm.stdout)")
        #expect(received == Self.binds)
        #expect(released == Self.binds, "every socket of the storm was closed: one release line each")
        #expect(ownBinds == 0, "the self-check's binds were reported")
        #expect(StatusLine.stopped(in: tracer.stderr)?.int("lost") == 0, "\(tracer.stderr)")
    }
}

/// How many lines of `data` hold every one of `patterns`, found by the C
/// library's memchr and memcmp (no String per line: 200 000 lines in the
/// emulated guests' debug build; Glibc's module has no memmem).
func lines(in data: Data, containingAll patterns: [String]) -> Int {
    data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) -> Int in
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        let needles = patterns.map { Array($0.utf8) }
        var count = 0
        var start = base
        let end = base + buffer.count
        while start < end {
            let newline = memchr(start, 0x0A, end - start).map { UnsafeRawPointer($0) } ?? end
            let length = newline - start
            if needles.allSatisfy({ needle in
                needle.withUnsafeBytes { contains(start, length, $0) }
            }) {
                count += 1
            }
            start = newline + 1
        }
        return count
    }
}

/// Whether the `length` bytes at `haystack` hold `needle`.
private func contains(_ haystack: UnsafeRawPointer, _ length: Int, _ needle: UnsafeRawBufferPointer) -> Bool {
    guard let first = needle.first, needle.count <= length else { return false }
    var at = haystack
    let last = haystack + (length - needle.count)
    while at <= last, let found = memchr(at, Int32(first), last - at + 1).map({ UnsafeRawPointer($0) }) {
        if memcmp(found, needle.baseAddress!, needle.count) == 0 { return true }
        at = found + 1
    }
    return false
}
