import Logging

/// The sinks a configuration asks for, opened and checked at start.
public enum SinkFactory {
    public static func make(_ settings: SinkSettings, encoder: EventEncoder, logger: Logger) throws(SinkError) -> [Sink] {
        var sinks: [Sink] = []
        if settings.stdoutEnabled {
            sinks.append(FileDescriptorSink.standardOutput())
        }
        if let file = settings.file {
            sinks.append(try RotatingFileSink(settings: file) { logger.warning("file sink: \($0)") })
        }
        if let unix = settings.unix {
            sinks.append(UnixSocketSink(settings: unix, log: { logger.warning("unix sink: \($0)") }) { lost, total, range in
                var out = OutputBuffer(capacity: 512)
                encoder.encodeLoss(source: "unix", lost: lost, total: total, unixNanoseconds: realtimeNanoseconds(),
                                   sequence: nil, range: range, into: &out)
                return out.bytes
            })
        }
        return sinks
    }
}
