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
        let received = tracer.lines.filter { $0.contains("\"pid\":\(storm.pid),") }.count
        let ownBinds = tracer.lines.filter { $0.contains("\"pid\":\(tracer.process.processIdentifier),") }.count
        print("storm \(mode): \(received) of \(Self.binds) binds received, \(Self.binds - received) missed")
        #expect(storm.stdout.contains("\"failures\":0"), "\(storm.stdout)")
        #expect(received == Self.binds)
        #expect(ownBinds == 0, "the self-check's binds were reported")
        #expect(StatusLine.stopped(in: tracer.stderr)?.int("lost") == 0, "\(tracer.stderr)")
    }
}
