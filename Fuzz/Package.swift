// swift-tools-version:6.0
// libFuzzer targets for tapd's parsers of hostile input. Built and run by `make fuzz` with
// -sanitize=fuzzer,address; kept out of the main package so the normal build never needs the fuzzer runtime.
import PackageDescription

let package = Package(
    name: "tapd-fuzz",
    dependencies: [.package(name: "tapd", path: "..")],
    targets: [
        .executableTarget(
            name: "FuzzParsers",
            dependencies: [
                .product(name: "TLV", package: "tapd"),
                .product(name: "APDU", package: "tapd"),
                .product(name: "EMVKernel", package: "tapd"),
                .product(name: "FuzzTargets", package: "tapd"),
            ]),
        .executableTarget(
            name: "FuzzKernels",
            dependencies: [
                .product(name: "TLV", package: "tapd"),
                .product(name: "EMVKernel", package: "tapd"),
                .product(name: "FuzzTargets", package: "tapd"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)
