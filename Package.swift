// swift-tools-version: 6.1
import PackageDescription

let package = Package(
  name: "eod-extract",
  platforms: [.macOS(.v15)],
  products: [
    // The domain core, for other programs: exact money, valuation, performance.
    .library(name: "EODCore", targets: ["EODCore"]),
    .executable(name: "eod-extract", targets: ["eod-extract"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1"),
    .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    // Builds EODCore's DocC catalog (`swift package generate-documentation`); no target uses it.
    .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
  ],
  targets: [
    // Pure domain core: no I/O, no C.
    .target(name: "EODCore", dependencies: [.product(name: "RealModule", package: "swift-numerics")]),

    // C libraries, each behind a module map and wrapped once in Swift.
    .systemLibrary(
      name: "CSQLite", pkgConfig: "sqlite3",
      providers: [.apt(["libsqlite3-dev"])]),
    .systemLibrary(
      name: "CZlib", pkgConfig: "zlib",
      providers: [.apt(["zlib1g-dev"])]),
    .systemLibrary(
      name: "CLibDeflate", pkgConfig: "libdeflate",
      providers: [.apt(["libdeflate-dev"])]),
    .systemLibrary(
      name: "CLibSSH2", pkgConfig: "libssh2",
      providers: [.apt(["libssh2-1-dev"])]),

    .target(name: "EODSQLite", dependencies: ["CSQLite"]),
    .target(name: "EODSnapshot", dependencies: ["EODCore", "EODSQLite"]),
    .target(name: "EODRender", dependencies: ["EODCore"]),
    .target(name: "EODCompression", dependencies: ["CZlib", "CLibDeflate"]),
    .target(
      name: "EODSFTP",
      dependencies: ["CLibSSH2", .product(name: "Logging", package: "swift-log")]),
    .target(name: "EODState", dependencies: ["EODCore", "EODSQLite"]),
    // The state store in PostgreSQL (the same contract as EODState's SQLite store).
    .target(
      name: "EODStatePostgres",
      dependencies: [
        "EODCore", "EODState",
        .product(name: "PostgresNIO", package: "postgres-nio"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
      ]),
    .target(
      name: "EODDelivery",
      dependencies: [
        "EODCore", "EODSFTP", "EODState", "EODOps",
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "Logging", package: "swift-log"),
      ]),
    .target(
      name: "EODOps",
      dependencies: [
        "EODCore", "EODRender", "EODCompression", "EODSFTP",
        .product(name: "Yams", package: "Yams"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "Logging", package: "swift-log"),
      ]),
    .target(
      name: "EODReconcile",
      dependencies: [
        // EODVerify: its JSON Lines reader (our JSON sets) and its set stores (`--ours sftp://…`).
        "EODCore", "EODCompression", "EODRender", "EODVerify", .product(name: "Yams", package: "Yams"),
        .product(name: "Crypto", package: "swift-crypto"),
      ]),
    // Depends on EODSnapshot for the schema's one description (SnapshotSchema), whose DDL it runs.
    .target(name: "EODSnapshotGen", dependencies: ["EODCore", "EODSQLite", "EODSnapshot", "EODOps"]),
    .target(
      name: "EODPipeline",
      dependencies: [
        "EODCore", "EODSnapshot", "EODRender", "EODCompression", "EODState", "EODStatePostgres",
        "EODDelivery", "EODOps", "EODSFTP",
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "Logging", package: "swift-log"),
      ]),
    // Checks a delivered set against its manifest (the `verify` command).
    .target(
      name: "EODVerify",
      dependencies: [
        "EODCore", "EODCompression", "EODRender", .product(name: "Crypto", package: "swift-crypto"),
      ]),
    .executableTarget(
      name: "eod-extract",
      dependencies: [
        "EODPipeline", "EODSnapshotGen", "EODOps", "EODDelivery", "EODSFTP", "EODState", "EODStatePostgres",
        "EODCore",
        "EODRender", "EODSnapshot",
        "EODCompression", "EODVerify", "EODReconcile",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
      ]),

    .testTarget(name: "EODCoreTests", dependencies: ["EODCore"], resources: [.copy("Fixtures")]),
    .testTarget(
      name: "EODSnapshotTests", dependencies: ["EODSnapshot", "EODSnapshotGen", "EODSQLite", "EODCore"]),
    .testTarget(name: "EODRenderTests", dependencies: ["EODRender"]),
    .testTarget(name: "EODCompressionTests", dependencies: ["EODCompression"]),
    .testTarget(
      name: "EODSFTPTests",
      dependencies: [
        "ChildProcess", "EODSFTP", "EODDelivery", "EODOps", "EODRender", "EODCompression",
        .product(name: "Logging", package: "swift-log"),
      ]),
    .testTarget(name: "EODOpsTests", dependencies: ["EODOps", "EODCompression", "EODRender"]),
    .testTarget(name: "EODReconcileTests", dependencies: ["EODReconcile", "EODCore"]),
    .testTarget(
      name: "EODPipelineTests",
      dependencies: [
        "EODPipeline", "EODSnapshotGen", "EODCompression", "EODState", "EODStatePostgres", "EODRender",
        "EODCore",
        "EODSQLite",
        "EODSnapshot", "EODDelivery", "EODOps", "PostgresTestServer",
      ],
      resources: [.copy("Fixtures")]),
    .testTarget(name: "EODExtractCLITests", dependencies: ["EODSnapshotGen", "PostgresTestServer"]),
    // Starts a real PostgreSQL 15 for the tests that need one (the state store's).
    .target(name: "PostgresTestServer", dependencies: ["ChildProcess"], path: "Tests/PostgresTestServer"),
    // The test harnesses' child processes, started with no descriptor of the test process.
    .target(name: "ChildProcess", path: "Tests/ChildProcess"),
    .testTarget(name: "EODVerifyTests", dependencies: ["EODVerify", "EODCompression"]),
  ]
)
