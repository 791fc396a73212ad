/// A configuration problem: which key (or variable, or flag) and what is wrong with it.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public var key: String
    public var problem: String

    public init(key: String, _ problem: String) {
        self.key = key
        self.problem = problem
    }

    public var description: String { key.isEmpty ? problem : "\(key): \(problem)" }
}
