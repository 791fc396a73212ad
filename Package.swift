// swift-tools-version: 6.2
import PackageDescription

/// The project's own targets build without a warning, and stay so (the dependencies' warnings are theirs).
let strict: [SwiftSetting] = [.treatAllWarnings(as: .error)]

let package = Package(
    name: "bindsnoop",
    products: [
        .executable(name: "bindsnoop", targets: ["bindsnoop"]),
        .executable(name: "bindgen", targets: ["bindgen"]),
        // For Benchmarks/ (a package of its own, so the tool's build stays lean).
        .library(name: "BindsnoopCore", targets: ["BindsnoopCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        // --metrics-address: the exposition format and a small HTTP server.
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // libbpf and the event record shared with the kernel program.
        .systemLibrary(name: "CBindsnoop", path: "Sources/CBindsnoop"),
        // libzstd, for rotated files.
        .systemLibrary(name: "CZstd", path: "Sources/CZstd"),
        // Nettle: SHA-256 for process.entity_id (a recipe anyone recomputes
        // with sha256sum). Small, and on every Debian system already.
        .systemLibrary(name: "CNettle", path: "Sources/CNettle"),
        // Turns the compiled BPF object into Swift source (base64).
        .executableTarget(name: "bpf-embed", path: "Sources/bpf-embed"),
        // Compiles bpf/*.bpf.c with clang and embeds the object.
        .plugin(name: "EmbedBPF", capability: .buildTool(), dependencies: ["bpf-embed"]),
        .target(
            name: "BindsnoopCore",
            dependencies: [
                "CBindsnoop",
                "CZstd",
                "CNettle",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict,
            plugins: ["EmbedBPF"]
        ),
        .executableTarget(
            name: "bindsnoop",
            dependencies: [
                "BindsnoopCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Bind load generator: the tests' and benchmarks' source of real binds.
        .executableTarget(
            name: "bindgen",
            dependencies: ["CIOUringBind", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict
        ),
        // bindgen's io_uring bind (IORING_OP_BIND), through raw system calls.
        .target(name: "CIOUringBind"),
        .testTarget(name: "BindsnoopCoreTests", dependencies: [
            "BindsnoopCore", .product(name: "Yams", package: "Yams"), .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),
        .testTarget(name: "EndToEndTests", dependencies: [
            "BindsnoopCore", .product(name: "Yams", package: "Yams"),  // the DaemonSet read as Kubernetes reads it
        ], swiftSettings: strict),
    ]
)
