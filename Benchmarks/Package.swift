// swift-tools-version: 6.0
// bindsnoop's micro-benchmarks, apart from the tool's package so that
// building and testing the tool does not build them. Run: scripts/bench-encode,
// scripts/bench-names
import PackageDescription

let package = Package(
    name: "bindsnoop-benchmarks",
    dependencies: [
        .package(name: "bindsnoop", path: ".."),
        // Counts malloc calls (LD_PRELOADed): the hot path must not allocate.
        .package(url: "https://github.com/ordo-one/malloc-interposer", from: "1.6.1"),
    ],
    targets: [
        .executableTarget(
            name: "encode-bench",
            dependencies: [
                .product(name: "BindsnoopCore", package: "bindsnoop"),
                .product(name: "MallocInterposerSwift", package: "malloc-interposer"),
            ]
        ),
        .executableTarget(
            name: "names-bench",
            dependencies: [.product(name: "BindsnoopCore", package: "bindsnoop")]
        ),
    ]
)
