import CBindsnoop
import Foundation
import Prometheus
import Synchronization

/// What `/metrics` and `/healthz` answer, without the server: the reader's
/// thread publishes its counters about once a second (`publish`), a scrape
/// copies the last snapshot out of that lock and renders it outside it, so
/// a scrape never holds up the event path. Tested without root or a socket.
public final class MetricsState: Sendable {
    /// What the agent attached: labels of the info metric, the programs' statistics.
    public struct Attachment: Sendable {
        public var mode: ProbeMode
        public var programs: [(name: String, fd: Int32)]
        public var ringBufferSize: UInt64

        public init(mode: ProbeMode, programs: [(name: String, fd: Int32)], ringBufferSize: UInt64) {
            self.mode = mode
            self.programs = programs
            self.ringBufferSize = ringBufferSize
        }
    }

    /// An HTTP answer, for the server to send as it is.
    public struct Response: Sendable, Equatable {
        public var status: Int
        public var contentType: String
        public var body: String
    }

    /// /healthz and /livez fail when the reader has not published for this
    /// long; /healthz also when a sink has not delivered for this long.
    public static let stalledAfter = 5.0

    private struct Snapshot: Sendable {
        var attachment: Attachment?
        var telemetry = Telemetry()
        var publishedAt: Double
    }

    /// What the counters were last moved to: swift-prometheus counters only
    /// go up by deltas. Held by one scrape at a time.
    private struct Rendering: ~Copyable {
        var counted: [String: UInt64] = [:]
    }

    private let startedAt = Double(realtimeNanoseconds()) / 1e9
    private let registry = PrometheusCollectorRegistry()
    private let snapshot: Mutex<Snapshot>
    private let rendering = Mutex(Rendering())
    /// Read at each scrape: the per-program statistics exist only while it is on.
    private let bpfStatsEnabled: @Sendable () -> Bool

    public init(bpfStatsEnabled: @escaping @Sendable () -> Bool = MetricsState.kernelBPFStatsEnabled) {
        snapshot = Mutex(Snapshot(publishedAt: monotonicSeconds()))
        self.bpfStatsEnabled = bpfStatsEnabled
    }

    /// Once the kernel programs are attached. Until then /healthz answers 503.
    public func attached(_ attachment: Attachment) {
        snapshot.withLock {
            $0.attachment = attachment
            $0.publishedAt = monotonicSeconds()
        }
    }

    /// The reader's thread, about once a second.
    public func publish(_ telemetry: Telemetry) {
        snapshot.withLock {
            $0.telemetry = telemetry
            $0.publishedAt = monotonicSeconds()
        }
    }

    /// `method`, `uri`: as the request line had them.
    public func respond(method: String, uri: String) -> Response {
        guard method == "GET" || method == "HEAD" else { return Response(status: 405, contentType: "text/plain", body: "GET or HEAD\n") }
        switch uri.split(separator: "?", maxSplits: 1).first ?? "" {
        case "/metrics": return Response(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: metrics())
        case "/healthz": return Self.answer(health())
        case "/livez": return Self.answer(liveness())
        default: return Response(status: 404, contentType: "text/plain", body: "/metrics, /healthz or /livez\n")
        }
    }

    private static func answer(_ problem: String?) -> Response {
        Response(status: problem == nil ? 200 : 503, contentType: "text/plain; charset=utf-8", body: (problem ?? "ok") + "\n")
    }

    /// /livez: nil while attached, the reader publishes and the last self-check
    /// passed; why not otherwise. What a restart can mend.
    func liveness(now: Double = monotonicSeconds()) -> String? {
        let current = snapshot.withLock { $0 }
        let stalled = now - current.publishedAt
        if current.attachment == nil { return "not attached yet" }
        if stalled > Self.stalledAfter { return "the reader has not run for \(Int(stalled)) s" }
        if case .failed(let programs) = current.telemetry.selfCheck {
            return "the last self-check was not seen by \(programs.joined(separator: ", ")): the hook is no longer live"
        }
        return nil
    }

    /// /healthz: /livez, and every sink delivering (one that has not for
    /// `stalledAfter` is named with its reason). A restart does not mend a
    /// full disk or a forwarder that is away: this is for readiness and alerts.
    func health(now: Double = monotonicSeconds()) -> String? {
        if let problem = liveness(now: now) { return problem }
        let sinks = snapshot.withLock { $0.telemetry.sinks }
        let failing = sinks.compactMap { sink -> String? in
            guard let problem = sink.statistics.problem, now - problem.since >= Self.stalledAfter else { return nil }
            return "sink \(sink.name) not delivering for \(Int(now - problem.since)) s: \(problem.reason)"
        }
        return failing.isEmpty ? nil : failing.joined(separator: "; ")
    }

    /// The exposition, from the last published snapshot.
    func metrics() -> String {
        let current = snapshot.withLock { $0 }
        return rendering.withLock { rendering in
            update(&rendering, from: current)
            return registry.emitToString()
        }
    }

    private func update(_ rendering: inout Rendering, from current: Snapshot) {
        func count(_ metric: MetricDescriptor, labels: [String] = [], _ value: UInt64) {
            let pairs = Array(zip(metric.labels, labels))
            let key = metric.name + pairs.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
            let before = rendering.counted[key] ?? 0
            guard value >= before else { return }
            rendering.counted[key] = value
            registry.makeCounter(descriptor: metric.prometheus, labels: pairs).increment(by: Int64(value - before))
        }
        func gauge(_ metric: MetricDescriptor, labels: [String] = [], _ value: Double) {
            registry.makeGauge(descriptor: metric.prometheus, labels: Array(zip(metric.labels, labels))).set(value)
        }
        typealias M = MetricCatalog
        let t = current.telemetry
        gauge(M.buildInfo, labels: [BuildInfo.version], 1)
        gauge(M.startTime, startedAt)
        gauge(M.residentMemory, Double(Self.residentBytes()))
        guard let attachment = current.attachment else { return }
        count(M.eventsRead, t.events.read)
        count(M.eventsMalformed, t.events.malformed)
        count(M.eventsLost, labels: ["kernel"], t.events.lost)
        count(M.eventsLost, labels: ["rate_limit"], t.events.rateLimited)
        for (name, s) in t.sinks {
            count(M.eventsLost, labels: [name], s.lost)
            for (reason, dropped) in s.dropped { count(M.sinkDropped, labels: [name, reason], dropped) }
            gauge(M.sinkUp, labels: [name], s.problem == nil ? 1 : 0)
            count(M.sinkLines, labels: [name], s.lines)
            count(M.sinkBytes, labels: [name], s.bytes)
            if name == "unix" {
                count(M.sinkReconnects, labels: [name], s.reconnects)
                gauge(M.sinkBuffered, labels: [name], Double(s.bufferedBytes))
            }
            if name == "file" {
                count(M.sinkRotations, labels: [name], s.rotations)
                gauge(M.backlogFiles, labels: [name], Double(s.backlogFiles))
                gauge(M.backlogBytes, labels: [name], Double(s.backlogBytes))
            }
        }
        gauge(M.ringSize, Double(attachment.ringBufferSize))
        gauge(M.ringUsedMax, Double(t.ringBufferHighWater))
        gauge(M.selfCheckPassed, t.selfCheck == .passed ? 1 : 0)
        gauge(M.attachInfo, labels: [attachment.mode.rawValue, attachment.programs.map(\.name).joined(separator: ",")], 1)
        guard bpfStatsEnabled() else { return }
        for program in attachment.programs {
            var runs: UInt64 = 0
            var nanoseconds: UInt64 = 0
            guard bindsnoop_program_stats(program.fd, &runs, &nanoseconds) == 0 else { continue }
            count(M.programRuns, labels: [program.name], runs)
            count(M.programNanoseconds, labels: [program.name], nanoseconds)
        }
    }

    public static func kernelBPFStatsEnabled() -> Bool {
        (try? String(contentsOfFile: "/proc/sys/kernel/bpf_stats_enabled", encoding: .utf8))?.hasPrefix("1") ?? false
    }

    private static func residentBytes() -> UInt64 {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let pages = statm.split(separator: " ").dropFirst().first.flatMap { UInt64($0) } ?? 0
        return pages * UInt64(getpagesize())
    }
}

/// What `bindsnoop_build_info` says.
public enum BuildInfo {
    public static let version = "0.1.0"
}
