@testable import BindsnoopCore
import Foundation
import Testing

@Suite struct RotationTests {
    @Test func rotatesBetweenLinesOnly() {
        let policy = RotationPolicy(maxSize: 100, maxFiles: 3)
        #expect(!policy.needsRotation(currentSize: 0, lineBytes: 500), "an empty file takes even an oversized line")
        #expect(!policy.needsRotation(currentSize: 60, lineBytes: 40))
        #expect(policy.needsRotation(currentSize: 61, lineBytes: 40))
        let aged = RotationPolicy(maxSize: 100, maxAge: 60, maxFiles: 3)
        #expect(aged.isTooOld(currentSize: 1, openedAt: 0, now: 60))
        #expect(!aged.isTooOld(currentSize: 0, openedAt: 0, now: 600), "an empty file is never rotated")
        #expect(!policy.isTooOld(currentSize: 1, openedAt: 0, now: 1e9))
    }

    @Test func retentionKeepsTheNewest() {
        let files: [(name: String, bytes: UInt64)] = [("b-3", 10), ("b-1", 10), ("b-4", 10), ("b-2", 10)]
        #expect(RotationPolicy(maxSize: 1, maxFiles: 2).filesToDelete(files) == ["b-1", "b-2"])
        #expect(RotationPolicy(maxSize: 1, maxFiles: 10, maxTotalSize: 25).filesToDelete(files) == ["b-1", "b-2"])
        #expect(RotationPolicy(maxSize: 1, maxFiles: 10).filesToDelete(files).isEmpty)
    }

    /// Rotated files wait for tailers: each its grace period, the newest
    /// until a newer one exists.
    @Test func compressionWaitsForTailers() {
        #expect(RotationPolicy.compressible(rotatedAt: [], now: 100, grace: 10) == 0)
        #expect(RotationPolicy.compressible(rotatedAt: [0], now: 100, grace: 10) == 0, "the newest waits for the next rotation")
        #expect(RotationPolicy.compressible(rotatedAt: [0, 95], now: 100, grace: 10) == 1)
        #expect(RotationPolicy.compressible(rotatedAt: [85, 95], now: 100, grace: 10) == 1)
        #expect(RotationPolicy.compressible(rotatedAt: [91, 95], now: 100, grace: 10) == 0, "grace not over")
        #expect(RotationPolicy.compressible(rotatedAt: [0, 1, 2, 99], now: 100, grace: 0) == 3)
    }

    @Test func compressionDropsToLevelOneWhenBehind() {
        #expect(BackgroundCompressor.level(configured: 19, waiting: 0) == 19)
        #expect(BackgroundCompressor.level(configured: 19, waiting: 1) == 19, "one file may wait while another is compressed")
        #expect(BackgroundCompressor.level(configured: 19, waiting: 2) == 1)
        #expect(BackgroundCompressor.level(configured: 1, waiting: 50) == 1)
    }

    @Test func rotatedNames() {
        let names = RotatedFileNames(activeName: "bind.ndjson")
        let rotated = names.rotatedName(unixNanoseconds: 1_795_959_499_000_000_001)
        #expect(rotated == "bind-20261129T133819.000000001Z.ndjson")
        #expect(names.classify(rotated) == .plain)
        #expect(names.classify(rotated + ".zst") == .compressed)
        #expect(names.classify(rotated + ".zst.tmp") == .partialCompression)
        #expect(names.classify("bind.ndjson") == nil)
        #expect(names.classify("bind-notatimestamp.ndjson") == nil)
        #expect(names.classify("other-20261129T133819.000000001Z.ndjson") == nil)
        #expect(RotatedFileNames(activeName: "events").rotatedName(unixNanoseconds: 0) == "events-19700101T000000.000000000Z")
    }
}

/// The file sink against a real directory, decompressed with the real `zstd` CLI.
