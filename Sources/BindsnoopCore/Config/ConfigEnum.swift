/// Enumerations in configuration: a value outside the set is refused with
/// the set spelled out.
public protocol ConfigEnum: RawRepresentable<String>, CaseIterable, Decodable {}

extension ConfigEnum {
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = Self(rawValue: text) else {
            throw container.invalid("'\(ConfigError.excerpt(text))' is not one of \(Self.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self = value
    }
}

extension OutputFormat: ConfigEnum {}
extension OutcomeFilter: ConfigEnum {}
extension FileSinkSettings.Compression: ConfigEnum {}
extension FileSinkSettings.Rotation: ConfigEnum {}
extension FileSinkSettings.OnError: ConfigEnum {}
extension UnixSinkSettings.Mode: ConfigEnum {}
