/// Parses a byte count: a whole number with an optional unit, binary (KiB,
/// MiB, GiB) or decimal (K/KB, M/MB, G/GB). nil if malformed or overflowing.
func parseByteSize(_ text: String) -> UInt64? {
    let trimmed = text.trimmingCharacters(in: " ")
    let digits = trimmed.prefix { $0.isASCII && $0.isNumber }
    guard !digits.isEmpty, let value = UInt64(digits) else { return nil }
    let multiplier: UInt64
    switch trimmed.dropFirst(digits.count).trimmingCharacters(in: " ").lowercased() {
    case "", "b": multiplier = 1
    case "k", "kb": multiplier = 1000
    case "kib": multiplier = 1 << 10
    case "m", "mb": multiplier = 1_000_000
    case "mib": multiplier = 1 << 20
    case "g", "gb": multiplier = 1_000_000_000
    case "gib": multiplier = 1 << 30
    default: return nil
    }
    let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
    return overflow ? nil : product
}

extension StringProtocol {
    func trimmingCharacters(in character: Character) -> String {
        String(drop { $0 == character }.reversed().drop { $0 == character }.reversed())
    }
}
