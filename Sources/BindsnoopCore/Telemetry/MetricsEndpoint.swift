import CBindsnoop
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import Synchronization

/// `--metrics-address`: Prometheus metrics at `/metrics` and health at
/// `/healthz`, served by SwiftNIO on one event-loop thread of its own. The
/// reader's thread publishes its counters about once a second (`publish`);
/// a scrape never touches the event path.
public final class MetricsEndpoint: Sendable {
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

    /// /healthz fails when the reader has not published for this long.
    public static let stalledAfter = 5.0

    private struct State {
        var attachment: Attachment?
        var telemetry = Telemetry()
        var publishedAt = monotonicSeconds()
        /// What each counter was last set to (counters only go up by deltas).
        var counted: [String: UInt64] = [:]
    }

    private let startedAt = Double(realtimeNanoseconds()) / 1e9
    private let registry = PrometheusCollectorRegistry()
    private let state = Mutex(State())
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel

    /// Binds and listens before returning (so that `--user` may drop
    /// privileges after); a refused address is a `ConfigError`.
    public init(address: ListenAddress) throws(ConfigError) {
        // The handlers need self, which exists only once every stored property
        // does. (The endpoint lives as long as the process: the cycle through
        // the channel initializer is never broken.)
        let routes = Mutex<MetricsEndpoint?>(nil)
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 16)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // A connection that sends nothing for 30 s is closed (a scraper asks every few seconds).
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: .seconds(30)))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(HTTPHandler { routes.withLock { $0 } })
                }
            }
        do {
            channel = try bootstrap.bind(host: address.host, port: Int(address.port)).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw ConfigError(key: "metrics.address", Self.explain(error, address: address))
        }
        routes.withLock { $0 = self }
    }

    deinit {
        channel.close(promise: nil)
        group.shutdownGracefully { _ in }
    }

    /// One request at a time per connection: GET (or HEAD) /metrics or /healthz.
    private final class HTTPHandler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        private let endpoint: () -> MetricsEndpoint?
        private var request: HTTPRequestHead?

        init(_ endpoint: @escaping () -> MetricsEndpoint?) {
            self.endpoint = endpoint
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if event is IdleStateHandler.IdleStateEvent {
                context.close(promise: nil)
            } else {
                context.fireUserInboundEventTriggered(event)
            }
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): request = head
            case .body: break
            case .end:
                guard let head = request else { return }
                request = nil
                let (status, type, body) = endpoint()?.respond(method: head.method, uri: head.uri)
                    ?? (.serviceUnavailable, "text/plain", "starting\n")
                var headers = HTTPHeaders([("Content-Type", type), ("Content-Length", "\(body.utf8.count)")])
                if status == .methodNotAllowed { headers.add(name: "Allow", value: "GET, HEAD") }
                if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
                if head.method != .HEAD {
                    context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
                }
                let keepAlive = head.isKeepAlive
                context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                    if !keepAlive { context.close(promise: nil) }
                }
            }
        }
    }

    private func respond(method: HTTPMethod, uri: String) -> (HTTPResponseStatus, String, String) {
        guard method == .GET || method == .HEAD else { return (.methodNotAllowed, "text/plain", "GET or HEAD\n") }
        switch uri.split(separator: "?", maxSplits: 1).first ?? "" {
        case "/metrics": return (.ok, "text/plain; version=0.0.4; charset=utf-8", metrics())
        case "/healthz":
            let problem = health()
            return (problem == nil ? .ok : .serviceUnavailable, "text/plain; charset=utf-8", (problem ?? "ok") + "\n")
        default: return (.notFound, "text/plain", "/metrics or /healthz\n")
        }
    }

    private static func explain(_ error: any Error, address: ListenAddress) -> String {
        guard let code = (error as? IOError)?.errnoCode else { return "cannot listen on \(address): \(error)" }
        let hint = switch code {
        case EADDRINUSE: "another process listens there; choose another port"
        case EACCES: "ports below 1024 need CAP_NET_BIND_SERVICE; choose a port from 1024"
        case EADDRNOTAVAIL: "no interface of this host has that address"
        default: "choose another address"
        }
        return "cannot listen on \(address) (\(errorName(code))): \(hint)"
    }

    /// Once the kernel programs are attached. Until then /healthz answers 503.
    public func attached(_ attachment: Attachment) {
        state.withLock {
            $0.attachment = attachment
            $0.publishedAt = monotonicSeconds()
        }
    }

    /// The reader's thread, about once a second.
    public func publish(_ telemetry: Telemetry) {
        state.withLock {
            $0.telemetry = telemetry
            $0.publishedAt = monotonicSeconds()
        }
    }

    /// nil while the reader publishes and the last self-check passed; why not otherwise.
    func health() -> String? {
        let (telemetry, publishedAt, attached) = state.withLock { ($0.telemetry, $0.publishedAt, $0.attachment != nil) }
        let stalled = monotonicSeconds() - publishedAt
        if !attached { return "not attached yet" }
        if stalled > Self.stalledAfter { return "the reader has not run for \(Int(stalled)) s" }
        if case .failed(let programs) = telemetry.selfCheck {
            return "the last self-check was not seen by \(programs.joined(separator: ", ")): the hook is no longer live"
        }
        return nil
    }

    func metrics() -> String {
        state.withLock { state in
            update(&state)
            return registry.emitToString()
        }
    }

    /// Sets every metric from the last published counters (under the lock:
    /// one scrape at a time moves the counters).
    private func update(_ state: inout State) {
        let t = state.telemetry
        gauge("bindsnoop_build_info", [("version", BuildInfo.version)], "The bindsnoop build.", 1)
        gauge("process_start_time_seconds", [], "Start time of the process since the Unix epoch, in seconds.", startedAt)
        gauge("process_resident_memory_bytes", [], "Resident memory size in bytes.", Double(residentBytes()))
        guard let identity = state.attachment else { return }
        func count(_ name: String, _ labels: [(String, String)] = [], _ help: String, _ value: UInt64) {
            let key = name + labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
            let before = state.counted[key] ?? 0
            guard value >= before else { return }
            state.counted[key] = value
            registry.makeCounter(name: name, labels: labels, help: help).increment(by: Int64(value - before))
        }
        func gauge(_ name: String, _ labels: [(String, String)] = [], _ help: String, _ value: Double) {
            registry.makeGauge(name: name, labels: labels, help: help).set(value)
        }
        count("bindsnoop_events_read_total", [], "Bind records read from the kernel's ring buffer.", t.events.read)
        count("bindsnoop_events_malformed_total", [], "Ring-buffer samples that were not one bind record.", t.events.malformed)
        let lostHelp = "Events that never became lines, by where they were lost: kernel (ring buffer full), rate_limit (--rate-limit), or a sink's name (its buffer overflowed)."
        count("bindsnoop_events_lost_total", [("source", "kernel")], lostHelp, t.events.lost)
        count("bindsnoop_events_lost_total", [("source", "rate_limit")], lostHelp, t.events.rateLimited)
        for (name, s) in t.sinks {
            let sink = [("sink", name)]
            count("bindsnoop_events_lost_total", [("source", name)], lostHelp, s.lost)
            count("bindsnoop_sink_lines_total", sink, "Lines a sink handed to the kernel (unix: resent lines count again).", s.lines)
            count("bindsnoop_sink_bytes_total", sink, "Bytes a sink handed to the kernel.", s.bytes)
            if name == "unix" {
                count("bindsnoop_sink_reconnects_total", sink, "Connections to the forwarder after the first.", s.reconnects)
                gauge("bindsnoop_sink_buffered_bytes", sink, "Bytes held for the forwarder: unsent, or sent and not yet read.", Double(s.bufferedBytes))
            }
            if name == "file" {
                count("bindsnoop_sink_rotations_total", sink, "File rotations.", s.rotations)
                gauge("bindsnoop_sink_compression_backlog_files", sink, "Rotated files not yet compressed (held for tailers, queued, in progress).", Double(s.backlogFiles))
                gauge("bindsnoop_sink_compression_backlog_bytes", sink, "Bytes of the rotated files not yet compressed.", Double(s.backlogBytes))
            }
        }
        gauge("bindsnoop_ring_buffer_size_bytes", [], "The kernel ring buffer's size (ring_buffer_size).", Double(identity.ringBufferSize))
        gauge("bindsnoop_ring_buffer_used_max_bytes", [], "The most the ring buffer held unread when the reader looked, over the last second.", Double(t.ringBufferHighWater))
        if case .passed = t.selfCheck {
            gauge("bindsnoop_self_check_passed", [], "1 when every kernel program saw bindsnoop's last self-check binds.", 1)
        } else {
            gauge("bindsnoop_self_check_passed", [], "1 when every kernel program saw bindsnoop's last self-check binds.", 0)
        }
        gauge("bindsnoop_attach_info", [("mode", identity.mode.rawValue), ("programs", identity.programs.map(\.name).joined(separator: ","))],
              "The attach mode and the kernel programs in use.", 1)
        guard Self.bpfStatsEnabled() else { return }
        for program in identity.programs {
            var runs: UInt64 = 0
            var nanoseconds: UInt64 = 0
            guard bindsnoop_program_stats(program.fd, &runs, &nanoseconds) == 0 else { continue }
            let labels = [("program", program.name)]
            count("bindsnoop_kernel_program_runs_total", labels, "Runs of each kernel program (kernel.bpf_stats_enabled=1 only).", runs)
            count("bindsnoop_kernel_program_run_nanoseconds_total", labels, "Time in each kernel program (kernel.bpf_stats_enabled=1 only).", nanoseconds)
        }
    }

    private static func bpfStatsEnabled() -> Bool {
        (try? String(contentsOfFile: "/proc/sys/kernel/bpf_stats_enabled", encoding: .utf8))?.hasPrefix("1") ?? false
    }

    private func residentBytes() -> UInt64 {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let pages = statm.split(separator: " ").dropFirst().first.flatMap { UInt64($0) } ?? 0
        return pages * UInt64(getpagesize())
    }
}

/// What `bindsnoop_build_info` says.
public enum BuildInfo {
    public static let version = "0.1.0"
}
