/// Where encoded lines go. A sink receives whole lines only, in batches.
public protocol Sink: AnyObject {
    var name: String { get }
    /// Takes a batch of complete lines.
    func write(_ lines: UnsafeRawBufferPointer) throws(SinkError)
    /// Delivers what is buffered, within the sink's own deadline.
    func flush() throws(SinkError)
    func close()
}

public enum SinkError: Error, CustomStringConvertible, Equatable {
    /// The reader went away (a closed pipe): stop quietly.
    case readerGone(sink: String)
    case failed(sink: String, errno: Int32)

    public var description: String {
        switch self {
        case .readerGone(let sink): "\(sink): the reader closed its end"
        case .failed(let sink, let errno): "\(sink): write failed (\(errorName(errno)))"
        }
    }
}
