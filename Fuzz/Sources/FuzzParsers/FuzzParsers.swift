// libFuzzer entry point: every parser of hostile input — card bytes in both TLV modes, DOL handling and
// certificate recovery (FuzzTargets.cardInput), and the acquirer's ISO 8583 answers (FuzzTargets.acquirerInput). A crash, a hang (libFuzzer -timeout) or a leak (ASan) is a finding; thrown
// errors are expected. SwiftPM names an executable's entry point <Target>_main, so that function hands control
// to libFuzzer's driver.

import APDU
import EMVKernel
import FuzzTargets
import TLV

nonisolated(unsafe) let fuzzKeys: CAKeyStore = try! CAKeyStore.bundled(includeTestKeys: true)

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

@_cdecl("FuzzParsers_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var c = argc
    var v = argv
    return LLVMFuzzerRunDriver(&c, &v) { data, count in
        let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
        FuzzTargets.cardInput(bytes, keys: fuzzKeys)
        FuzzTargets.acquirerInput(bytes)
        return 0
    }
}
