import Foundation
import Testing

/// Failures the host does not produce on demand, injected into the real
/// bindsnoop (Tests/tools/fault-injection.c, LD_PRELOAD): each is one clear
/// line and its documented exit code, never a crash or a silent go-on.
@Suite struct FaultInjectionTests {
    private static func run(fault: String, _ arguments: [String], environment: [String: String] = [:]) throws -> Finished {
        let library = try buildTool("fault-injection.c", flags: ["-shared", "-fPIC", "-ldl"], needs: "gcc")
        defer { try? FileManager.default.removeItem(at: library) }
        return try EndToEndTests.run(Harness.bindsnoop, arguments,
                                     environment: environment.merging(["LD_PRELOAD": library.path, "FAULT_INJECT": fault]) { $1 })
    }

    private func expectOneLine(_ result: Finished, status: Int32, mentioning texts: [String],
                               sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status == status, "status \(result.status): \(result.stderr)", sourceLocation: sourceLocation)
        let errors = result.stderr.split(separator: "\n").filter { $0.contains("error:") }
        #expect(errors.count == 1, "expected one error line: \(result.stderr)", sourceLocation: sourceLocation)
        for text in texts { #expect(result.stderr.contains(text), "\(text): \(result.stderr)", sourceLocation: sourceLocation) }
    }

    /// No signalfd: with SIGINT and SIGTERM blocked and unwatched only SIGKILL would stop it, so it stops at once (exit 71).
    @Test func aSignalfdFailureStopsAtOnce() throws {
        let result = try Self.run(fault: "signalfd", ["--duration", "1"])
        expectOneLine(result, status: 71, mentioning: ["signalfd", "EMFILE", "ulimit -n"])
        #expect(!result.stderr.contains("attached"), "nothing is loaded first")
    }

    /// The ring buffer cannot be opened: a tracer error (exit 69), not an output's "write failed" (74).
    @Test(.root) func aRingBufferThatCannotBeOpenedIsATracerError() throws {
        let result = try Self.run(fault: "ring_buffer__new", ["--duration", "1"])
        expectOneLine(result, status: 69, mentioning: ["opening the ring buffer failed", "ENOMEM"])
        #expect(!result.stderr.contains("write failed"))
    }

    /// fsync refused at the end of the run: the file output says its lines may not be on the disk (exit 74).
    @Test(.root) func aRefusedFsyncIsReported() throws {
        let directory = Harness.temporaryFile("fsync")
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try Self.run(fault: "fsync", ["--duration", "1"],
                                  environment: ["BINDSNOOP_SINKS_FILE_PATH": directory.appending(path: "bind.ndjson").path])
        expectOneLine(result, status: 74, mentioning: ["file: the lines written may not be on the disk", "fsync: EIO"])
    }
}
