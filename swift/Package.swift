// swift-tools-version:5.9
// statesync for Swift: the uniffi-generated bindings of bindings/ (crate statesync-ffi) plus an
// idiomatic layer (Sources/Statesync). Run `./generate.sh` first: it builds the Rust library and
// generates the C header, module map and Swift source into target/generated/ (never committed).
// On Linux the library is linked from $STATESYNC_LIB_DIR (default: ../target/release); on Apple
// platforms package it as an XCFramework instead (see docs/adr/0012-uniffi-bindings.md).
//
// STATESYNC_TESTING=1 builds the package the tests need instead (scripts/test-uniffi.sh): the
// bindings `./generate.sh --testing` writes into target/generated-testing/, linked with the library
// of the cargo feature `testing` (default: ../target/ffi-testing), which alone has the test-only
// entry point `SyncManager.panicForTests()`; the tests see the compilation condition
// STATESYNC_TESTING. What a user builds never has that entry point.
import PackageDescription

let testing = Context.environment["STATESYNC_TESTING"] == "1"
let generated = testing ? "target/generated-testing" : "target/generated"
let defaultLibDir = Context.packageDirectory + (testing ? "/../target/ffi-testing" : "/../target/release")
let libDir = Context.environment["STATESYNC_LIB_DIR"] ?? defaultLibDir

let package = Package(
    name: "Statesync",
    platforms: [.macOS(.v12), .iOS(.v15)],
    products: [
        .library(name: "Statesync", targets: ["Statesync"]),
    ],
    targets: [
        // The generated C header and module map (the FFI symbols of libstatesync_ffi).
        .target(
            name: "StatesyncFFI",
            path: generated + "/StatesyncFFI",
            publicHeadersPath: "include"
        ),
        // The generated Swift bindings.
        .target(
            name: "StatesyncUniffi",
            dependencies: ["StatesyncFFI"],
            path: generated + "/StatesyncUniffi",
            linkerSettings: [
                .linkedLibrary("statesync_ffi"),
                .unsafeFlags(["-L", libDir, "-Xlinker", "-rpath", "-Xlinker", libDir]),
            ]
        ),
        // The idiomatic layer: error codes, Codable helpers, AsyncStream of events.
        .target(
            name: "Statesync",
            dependencies: ["StatesyncUniffi"],
            path: "Sources/Statesync"
        ),
        .testTarget(
            name: "StatesyncTests",
            dependencies: ["Statesync"],
            path: "Tests/StatesyncTests",
            swiftSettings: testing ? [SwiftSetting.define("STATESYNC_TESTING")] : []
        ),
        // The README's Swift example, extracted by generate.sh and run as a test.
        .testTarget(
            name: "StatesyncReadmeTests",
            dependencies: ["Statesync"],
            path: generated + "/StatesyncReadmeTests"
        ),
    ]
)
