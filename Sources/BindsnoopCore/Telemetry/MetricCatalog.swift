import Prometheus

/// One metric of `/metrics`: its exposition name, kind, labels and help.
/// The README's metric table lists exactly these (a unit test compares them).
public struct MetricDescriptor: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case counter, gauge
    }

    public let name: String
    public let kind: Kind
    public let labels: [String]
    public let help: String

    /// swift-prometheus's descriptor: the whole name as the metric name, no unit suffix added.
    var prometheus: MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}

/// Every metric bindsnoop serves, in the order they are registered.
public enum MetricCatalog {
    private static func counter(_ name: String, labels: [String] = [], _ help: String) -> MetricDescriptor {
        MetricDescriptor(name: name, kind: .counter, labels: labels, help: help)
    }

    private static func gauge(_ name: String, labels: [String] = [], _ help: String) -> MetricDescriptor {
        MetricDescriptor(name: name, kind: .gauge, labels: labels, help: help)
    }

    static let buildInfo = gauge("bindsnoop_build_info", labels: ["version"], "The bindsnoop build.")
    static let startTime = gauge("process_start_time_seconds", "Start time of the process since the Unix epoch, in seconds.")
    static let residentMemory = gauge("process_resident_memory_bytes", "Resident memory size in bytes.")
    static let eventsRead = counter("bindsnoop_events_read_total", "Bind records read from the kernel's ring buffer.")
    static let eventsMalformed = counter("bindsnoop_events_malformed_total", "Ring-buffer samples that were not one bind record.")
    static let eventsLost = counter("bindsnoop_events_lost_total", labels: ["source"],
                                    "Events that never became lines, by where they were lost: kernel (ring buffer full), rate_limit (--rate-limit), or a sink's name (its buffer overflowed).")
    static let sinkDropped = counter("bindsnoop_sink_dropped_lines_total", labels: ["sink", "reason"],
                                     "Lines a sink dropped, by reason: buffer_full (unix: the forwarder did not keep up) or the errno a file write failed with (ENOSPC, EIO, ENOENT...).")
    static let sinkUp = gauge("bindsnoop_sink_up", labels: ["sink"],
                              "1 while a sink delivers; 0 while it cannot (unix: the forwarder is away or has read nothing for 2 s; file: writes fail).")
    static let sinkLines = counter("bindsnoop_sink_lines_total", labels: ["sink"], "Lines a sink handed to the kernel (unix: resent lines count again).")
    static let sinkBytes = counter("bindsnoop_sink_bytes_total", labels: ["sink"], "Bytes a sink handed to the kernel.")
    static let sinkReconnects = counter("bindsnoop_sink_reconnects_total", labels: ["sink"], "Connections to the forwarder after the first.")
    static let sinkBuffered = gauge("bindsnoop_sink_buffered_bytes", labels: ["sink"], "Bytes held for the forwarder: unsent, or sent and not yet read.")
    static let sinkRotations = counter("bindsnoop_sink_rotations_total", labels: ["sink"], "File rotations.")
    static let backlogFiles = gauge("bindsnoop_sink_compression_backlog_files", labels: ["sink"],
                                    "Rotated files not yet compressed (held for tailers, queued, in progress).")
    static let backlogBytes = gauge("bindsnoop_sink_compression_backlog_bytes", labels: ["sink"], "Bytes of the rotated files not yet compressed.")
    static let ringSize = gauge("bindsnoop_ring_buffer_size_bytes", "The kernel ring buffer's size (ring_buffer_size).")
    static let ringUsedMax = gauge("bindsnoop_ring_buffer_used_max_bytes",
                                   "The most the ring buffer held unread when the reader looked, over the last second.")
    static let selfCheckPassed = gauge("bindsnoop_self_check_passed", "1 when every kernel program saw bindsnoop's last self-check binds.")
    static let attachInfo = gauge("bindsnoop_attach_info", labels: ["mode", "programs"], "The attach mode and the kernel programs in use.")
    static let programRuns = counter("bindsnoop_kernel_program_runs_total", labels: ["program"],
                                     "Runs of each kernel program (kernel.bpf_stats_enabled=1 only).")
    static let programNanoseconds = counter("bindsnoop_kernel_program_run_nanoseconds_total", labels: ["program"],
                                            "Time in each kernel program (kernel.bpf_stats_enabled=1 only).")

    public static let all: [MetricDescriptor] = [
        buildInfo, startTime, residentMemory, eventsRead, eventsMalformed, eventsLost, sinkDropped, sinkUp, sinkLines, sinkBytes, sinkReconnects,
        sinkBuffered, sinkRotations, backlogFiles, backlogBytes, ringSize, ringUsedMax, selfCheckPassed, attachInfo,
        programRuns, programNanoseconds,
    ]
}
