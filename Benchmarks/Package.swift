// swift-tools-version:6.0
// tapd's benchmarks: a plain release-mode harness (`make bench`), its own package so benchmarks never slow the
// main build. Allocation counts come from a small malloc interposer (CAllocCounter).
import PackageDescription

let package = Package(
    name: "tapd-benchmarks",
    dependencies: [
        .package(name: "tapd", path: ".."),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        .target(name: "CAllocCounter"),
        .executableTarget(name: "tapd-bench", dependencies: [
            "CAllocCounter",
            .product(name: "TLV", package: "tapd"),
            .product(name: "APDU", package: "tapd"),
            .product(name: "EMVCrypto", package: "tapd"),
            .product(name: "EMVKernel", package: "tapd"),
            .product(name: "Simulators", package: "tapd"),
            .product(name: "ISO8583", package: "tapd"),
            .product(name: "Journal", package: "tapd"),
            .product(name: "Acquirer", package: "tapd"),
            .product(name: "TapdCore", package: "tapd"),
        ]),
        // The reader benchmarks: tapd's PC/SC and libnfc back ends against bare C loops on the same stacks.
        .target(name: "CBareReaders", cSettings: [.unsafeFlags(["-I/usr/include/PCSC"])],
                linkerSettings: [.linkedLibrary("pcsclite"), .linkedLibrary("nfc")]),
        .executableTarget(name: "tapd-reader-bench", dependencies: [
            "CBareReaders",
            .product(name: "APDU", package: "tapd"),
            .product(name: "EMVKernel", package: "tapd"),
            .product(name: "Simulators", package: "tapd"),
            .product(name: "Readers", package: "tapd"),
        ]),
        // The merchant's-day scale targets: a journal of a million sales.
        .executableTarget(name: "tapd-scale-bench", dependencies: [
            .product(name: "EMVCrypto", package: "tapd"),
            .product(name: "EMVKernel", package: "tapd"),
            .product(name: "ISO8583", package: "tapd"),
            .product(name: "Journal", package: "tapd"),
            .product(name: "Acquirer", package: "tapd"),
            .product(name: "TapdCore", package: "tapd"),
            .product(name: "ControlAPI", package: "tapd"),
            .product(name: "Simulators", package: "tapd"),
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        .executableTarget(name: "tapd-daemon-bench", dependencies: [
            .product(name: "APDU", package: "tapd"),
            .product(name: "EMVKernel", package: "tapd"),
            .product(name: "Journal", package: "tapd"),
            .product(name: "Acquirer", package: "tapd"),
            .product(name: "Readers", package: "tapd"),
            .product(name: "TapdCore", package: "tapd"),
            .product(name: "Simulators", package: "tapd"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
