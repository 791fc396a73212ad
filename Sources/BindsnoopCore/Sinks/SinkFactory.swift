import Logging

/// The sinks a configuration asks for, opened and checked at start. Each
/// logs with its name as metadata (`sink=file`).
public enum SinkFactory {
    /// `sources`: where each setting came from (`Configuration.source(of:)`), named in errors.
    public static func make(_ settings: SinkSettings, sources: (String) -> ConfigSource = { .file(key: $0) },
                            metrics: MetricEncoder, logger: Logger) throws(SinkError) -> [Sink] {
        var sinks: [Sink] = []
        if settings.stdoutEnabled {
            sinks.append(StandardOutputSink())
        }
        if let file = settings.file {
            sinks.append(try RotatingFileSink(settings: file, pathSource: sources("sinks.file.path"), metrics: metrics,
                                                 logger: logger.with(sink: "file")))
        }
        if let unix = settings.unix {
            sinks.append(UnixSocketSink(settings: unix, metrics: metrics, logger: logger.with(sink: "unix")))
        }
        return sinks
    }
}

extension Logger {
    func with(sink: String) -> Logger {
        var logger = self
        logger[metadataKey: "sink"] = "\(sink)"
        return logger
    }
}
