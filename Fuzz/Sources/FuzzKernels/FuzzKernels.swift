// libFuzzer entry point for Entry Point and the kernels (`make fuzz`): each input is a mutation program that
// KernelFuzz applies to one of the seed conversations (virtual cards and phones of C-2 and C-3, see-phone restarts,
// the public recordings in Tests/KernelTests/Fixtures/public) before running the real kernels on it. A crash, a
// hang (libFuzzer -timeout), a sanitizer report or a broken invariant (precondition in KernelFuzz.check) is a finding.

import Dispatch
import EMVKernel
import Foundation
import FuzzTargets
import TLV

/// Runs async work to completion from libFuzzer's synchronous callback (which is not on Swift's cooperative pool).
final class Blocking<T: Sendable>: @unchecked Sendable {
    var value: T?
    static func run(_ body: @escaping @Sendable () async -> T) -> T {
        let box = Blocking<T>()
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            box.value = await body()
            done.signal()
        }
        done.wait()
        return box.value!
    }
}

func publicRecordings() -> [ReplayFile] {
    let dir = "Tests/KernelTests/Fixtures/public"
    let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
    return names.sorted().compactMap { n in
        guard n.hasSuffix(".trace") || n.hasSuffix(".json"), let d = FileManager.default.contents(atPath: dir + "/" + n)
        else { return nil }
        return try? ReplayFile.loadRecording(d, name: n)
    }
}

let fuzzKeys = try! KernelFuzz.keys()
let fuzzSeeds = Blocking.run { (try? await KernelFuzz.seeds(publicRecordings: publicRecordings())) ?? [] }

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

@_cdecl("FuzzKernels_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    precondition(!fuzzSeeds.isEmpty, "no seed conversations")
    FileHandle.standardError.write(
        Data(
            "FuzzKernels: \(fuzzSeeds.count) seed conversations: \(fuzzSeeds.map(\.name).joined(separator: ", "))\n"
                .utf8))
    var c = argc
    var v = argv
    return LLVMFuzzerRunDriver(&c, &v) { data, count in
        let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
        _ = Blocking.run { await KernelFuzz.execute(bytes, seeds: fuzzSeeds, keys: fuzzKeys).count }
        return 0
    }
}
