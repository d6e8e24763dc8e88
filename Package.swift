// swift-tools-version:6.0
// tapd — contactless payment terminal daemon. Layout and dependency rules: ../shared/DESIGN.md
import PackageDescription
import Foundation

let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

// The daemon's link (Linux): lld with packed relative relocations (RELR, glibc >= 2.36). The dynamic loader then
// reads a few kilobytes of relocations at start instead of 1.5 MB, which stay resident; same code, same behaviour.
// A toolchain without lld (older swift.org builds) links as before.
let lldAvailable = (Context.environment["PATH"] ?? "").split(separator: ":").contains { dir in
    FileManager.default.isExecutableFile(atPath: "\(dir)/ld.lld")
}
let daemonLinkerSettings: [LinkerSetting] = lldAvailable ? [
    .unsafeFlags(["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs"], .when(platforms: [.linux])),
] : []

let package = Package(
    name: "tapd",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "TLV", targets: ["TLV"]),
        .library(name: "APDU", targets: ["APDU"]),
        .library(name: "EMVCrypto", targets: ["EMVCrypto"]),
        .library(name: "EMVKernel", targets: ["EMVKernel"]),
        .library(name: "ISO8583", targets: ["ISO8583"]),
        .library(name: "Journal", targets: ["Journal"]),
        .library(name: "Acquirer", targets: ["Acquirer"]),
        .library(name: "Readers", targets: ["Readers"]),
        .library(name: "TapdCore", targets: ["TapdCore"]),
        .library(name: "ControlAPI", targets: ["ControlAPI"]),
        .library(name: "Simulators", targets: ["Simulators"]),
        .library(name: "FuzzTargets", targets: ["FuzzTargets"]),
        .executable(name: "tapd", targets: ["tapd"]),
        .executable(name: "tapctl", targets: ["tapctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
    ],
    targets: [
        // System library shims (pkg-config); nothing else lives in them.
        .systemLibrary(name: "CPCSCLite", pkgConfig: "libpcsclite",
                       providers: [.apt(["libpcsclite-dev"])]),
        .systemLibrary(name: "CLibNFC", pkgConfig: "libnfc",
                       providers: [.apt(["libnfc-dev"])]),
        .systemLibrary(name: "CLibUSB", pkgConfig: "libusb-1.0",
                       providers: [.apt(["libusb-1.0-0-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto",
                       providers: [.apt(["libssl-dev"])]),

        .target(name: "TLV", swiftSettings: strict),
        .target(name: "APDU", dependencies: ["TLV"], swiftSettings: strict),
        .target(name: "EMVCrypto", dependencies: ["COpenSSL"], swiftSettings: strict),
        .target(name: "EMVKernel", dependencies: ["TLV", "APDU", "EMVCrypto"],
                resources: [.copy("CAKeys")], swiftSettings: strict),

        .target(name: "ISO8583", dependencies: ["TLV"], swiftSettings: strict),
        // prctl(2), which Swift's Glibc module does not export (no core dumps of the daemon).
        .target(name: "CProcess"),
        // Named SIGKILL points for the crash matrix (debug builds only).
        .target(name: "FaultInjection", swiftSettings: strict),
        .target(name: "Journal", dependencies: [
            "TLV", "EMVCrypto",
            .product(name: "GRDB", package: "GRDB.swift"),
        ], swiftSettings: strict),
        .target(name: "Acquirer", dependencies: [
            "ISO8583", "FaultInjection", "TLV", "EMVCrypto",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOTLS", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ], swiftSettings: strict),
        .target(name: "Readers", dependencies: ["CPCSCLite", "CLibUSB", "CLibNFC", "APDU"], swiftSettings: strict),
        .target(name: "TapdCore", dependencies: [
            "TLV", "APDU", "EMVKernel", "ISO8583", "Journal", "Acquirer", "Readers", "FaultInjection", "CProcess",
            .product(name: "TOMLKit", package: "TOMLKit"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),
        // The API asks TapdCore only (Readers for the reader snapshot type it reports).
        .target(name: "ControlAPI", dependencies: [
            "TapdCore", "Readers",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ], resources: [.copy("Resources/openapi.json")], swiftSettings: strict),
        .target(name: "Diagnostics", dependencies: ["Readers", "Acquirer", "TapdCore", "EMVKernel", "Journal", "TLV", "ISO8583", "APDU"], swiftSettings: strict),
        .target(name: "FuzzTargets", dependencies: ["TLV", "APDU", "EMVCrypto", "EMVKernel", "ISO8583", "Simulators"], swiftSettings: strict),
        .target(name: "Simulators", dependencies: [
            "TLV", "APDU", "EMVCrypto", "EMVKernel", "ISO8583", "Acquirer", "COpenSSL",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ], swiftSettings: strict),

        .executableTarget(name: "tapd", dependencies: [
            "CProcess", "TLV", "APDU", "EMVCrypto", "EMVKernel", "ISO8583", "Journal", "Acquirer", "TapdCore", "Simulators", "Readers", "ControlAPI",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: strict, linkerSettings: daemonLinkerSettings),
        .executableTarget(name: "tapctl", dependencies: [
            "TLV", "APDU", "EMVCrypto", "EMVKernel", "ISO8583", "Simulators", "ControlAPI", "Diagnostics", "TapdCore", "Readers", "Journal",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ], swiftSettings: strict),

        // Test and demo tool: a virtual card served to a real pcscd through vpcd.
        .executableTarget(name: "tapd-vicc", dependencies: ["TLV", "Simulators"], swiftSettings: strict),

        .testTarget(name: "TLVTests", dependencies: ["TLV"]),
        .testTarget(name: "APDUTests", dependencies: ["APDU", "TLV"]),
        .testTarget(name: "EMVCryptoTests", dependencies: [
            "EMVCrypto",
            .product(name: "Crypto", package: "swift-crypto"),       // cross-check only; the daemon does not link it
        ]),
        .testTarget(name: "EMVKernelTests", dependencies: ["EMVKernel", "EMVCrypto", "TLV", "APDU", "Simulators"]),
        .testTarget(name: "KernelTests", dependencies: ["EMVKernel", "EMVCrypto", "TLV", "APDU", "Simulators"],
                    exclude: ["Fixtures"]),
        // Test harness shared by test targets (a real pcscd with vpcd in private namespaces).
        .target(name: "TestSupport", dependencies: ["TLV", "EMVCrypto", "EMVKernel"], path: "Tests/TestSupport"),
        .testTarget(name: "ReaderTests", dependencies: ["Readers", "Simulators", "EMVKernel", "EMVCrypto", "TLV", "APDU", "TestSupport"]),
        .testTarget(name: "DeploymentTests", dependencies: ["Readers", "TestSupport"]),
        .testTarget(name: "DiagnosticsTests", dependencies: ["Diagnostics", "TapdCore", "Journal", "Simulators", "Readers", "TestSupport"]),
        .testTarget(name: "DaemonTests", dependencies: ["TapdCore", "ControlAPI", "Readers", "Simulators", "Acquirer", "Journal", "EMVKernel", "EMVCrypto", "TLV", "TestSupport"]),
        .testTarget(name: "TapdCoreTests", dependencies: ["TapdCore", "Journal", "Acquirer", "Simulators", "EMVKernel", "TLV", "ISO8583", "TestSupport",
                                                         .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "JournalTests", dependencies: ["Journal", "EMVCrypto", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "AcquirerTests", dependencies: [
            "Acquirer", "ISO8583", "TLV", "Simulators",
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "X509", package: "swift-certificates"),   // reads back the test certificates independently
        ]),
        .testTarget(name: "ISO8583Tests", dependencies: ["ISO8583", "TLV"], exclude: ["crosscheck.py"]),
        .testTarget(name: "FuzzSmokeTests", dependencies: ["FuzzTargets", "Simulators", "EMVKernel", "TLV", "APDU", "ISO8583"]),
    ],
    swiftLanguageModes: [.v6]
)
