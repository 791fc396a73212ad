@testable import BindsnoopCore
import Foundation
import Testing

/// The reader without a kernel: samples in, lines out, as the session drives it.
@Suite struct ReaderTests {
    private func sample(_ record: BindRecord) -> [UInt8] {
        withUnsafeBytes(of: record.raw) { Array($0) }
    }

    /// Every line the reader hands out, as text, with its sequence.
    private func drain(_ reader: inout Reader) -> [(text: String, sequence: UInt64)] {
        var lines: [(String, UInt64)] = []
        reader.drain { (batch: LineBatch) in
            for i in 0..<batch.count {
                lines.append((String(decoding: batch.line(i), as: UTF8.self), batch.sequences[i]))
            }
            #expect(batch.bytes.count == batch.lineEnds.last, "the bytes are exactly the lines")
        }
        return lines
    }

    @Test func tableHeaderIsALineOfItsOwn() {
        var reader = Reader(mode: .table, enrichment: RecordFixtures.enrichment())
        reader.begin()
        _ = sample(RecordFixtures.record()).withUnsafeBytes { reader.handle($0) }
        let lines = drain(&reader)
        #expect(lines.count == 2)
        #expect(lines.first?.text.hasPrefix("PID ") == true && lines.first?.sequence == 0, "\(lines)")
        #expect(lines.last?.text.contains("nginx") == true && lines.last?.sequence == 1)
    }

    /// The header reaches a sink that writes line by line (the file sink),
    /// not only one that writes the bytes (stdout).
    @Test func tableHeaderIsTheFirstLineOfTheFile() throws {
        let directory = FileManager.default.temporaryDirectory.appending(path: "bindsnoop-table-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o750])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let sink = try RotatingFileSink(settings: FileSinkSettings(path: "\(directory)/bind.txt"), logger: LogRecorder().logger)
        var reader = Reader(mode: .table, enrichment: RecordFixtures.enrichment())
        reader.begin()
        try reader.drain { (lines: LineBatch) throws(SinkError) in try sink.write(lines) }
        _ = sample(RecordFixtures.record()).withUnsafeBytes { reader.handle($0) }
        try reader.drain { (lines: LineBatch) throws(SinkError) in try sink.write(lines) }
        sink.close()
        let text = try String(contentsOfFile: "\(directory)/bind.txt", encoding: .utf8)
        #expect(text.split(separator: "\n").first?.hasPrefix("PID ") == true, "\(text)")
        #expect(text.split(separator: "\n").count == 2, "\(text)")
    }

    @Test func sequencesAreGaplessAcrossEventsAndLossRecords() throws {
        var reader = Reader(mode: .json, enrichment: RecordFixtures.enrichment())
        reader.begin()  // no header in JSON
        for _ in 0..<3 { _ = sample(RecordFixtures.record()).withUnsafeBytes { reader.handle($0) } }
        reader.recordKernelLoss(lost: 4, total: 4)
        _ = sample(RecordFixtures.record()).withUnsafeBytes { reader.handle($0) }
        let lines = drain(&reader)
        #expect(lines.map(\.sequence) == [1, 2, 3, 4, 5])
        #expect(lines[3].text.contains("\"action\":\"events-lost\"") && lines[3].text.contains("\"sequence\":4"))
        let read = reader.eventsRead
        #expect(read == 4)
    }

    @Test func malformedSamplesAreCountedNotWritten() {
        var reader = Reader(mode: .json, enrichment: RecordFixtures.enrichment())
        let short = [UInt8](repeating: 0, count: BindRecord.size - 1)
        #expect(short.withUnsafeBytes { reader.handle($0) } == 0)
        let (malformed, read, hasLines) = (reader.malformed, reader.eventsRead, reader.hasLines)
        #expect(malformed == 1 && read == 0 && !hasLines)
    }

    @Test func answersBatchFullThenStopAtTheLimit() {
        var reader = Reader(mode: .json, enrichment: RecordFixtures.enrichment(), limits: SessionLimits(maxEvents: 1000))
        let bytes = sample(RecordFixtures.record())
        var verdicts: [Int32] = []
        for _ in 0..<1001 { verdicts.append(bytes.withUnsafeBytes { reader.handle($0) }) }
        let full = verdicts.firstIndex(of: Reader.batchFull)
        #expect(full != nil && full! > 100, "a batch is about 256 KiB of lines")
        #expect(verdicts[999] == Reader.stopConsuming && verdicts[1000] == Reader.stopConsuming)
        let read = reader.eventsRead
        #expect(read == 1000)
    }

    @Test func countModeWritesTalliesAtTheEndOnly() {
        var reader = Reader(mode: .count(.json), enrichment: RecordFixtures.enrichment())
        reader.begin()
        for _ in 0..<3 { _ = sample(RecordFixtures.record()).withUnsafeBytes { reader.handle($0) } }
        let linesBeforeFinish = reader.hasLines
        #expect(!linesBeforeFinish)
        reader.finish()
        let lines = drain(&reader)
        #expect(lines.count == 1 && lines[0].text.contains("\"binds\":3"), "\(lines)")
    }
}
