import ArgumentParser
import BindsnoopCore
import Foundation

extension OutcomeFilter: ExpressibleByArgument {}
extension OutputFormat: ExpressibleByArgument {}

extension ProbeSelection: ExpressibleByArgument {
    public static var allValueStrings: [String] { ["auto"] + ProbeMode.allCases.map(\.rawValue) }
}

/// `-P 80,443`: a comma-separated list of ports 0–65535.
struct PortList: ExpressibleByArgument {
    var ports: [UInt16]

    init?(argument: String) {
        var ports: [UInt16] = []
        for item in argument.split(separator: ",", omittingEmptySubsequences: false) {
            guard let port = UInt16(item.trimmingCharacters(in: .whitespaces)) else { return nil }
            ports.append(port)
        }
        self.ports = ports
    }
}

/// `4MiB`, `512KiB`, `8388608`: a byte count.
struct ByteSize: ExpressibleByArgument {
    var bytes: UInt64

    init?(argument: String) {
        guard let bytes = parseByteSize(argument) else { return nil }
        self.bytes = bytes
    }
}
