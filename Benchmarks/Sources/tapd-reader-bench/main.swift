// Reader benchmarks (release mode, `make bench`), the targets of the readers issue:
//  1. per-APDU round trip through tapd's PC/SC back end against a bare C loop on the same pcscd + vpcd: ratio ≤ 1.1;
//  2. the same for the libnfc back end against a bare C libnfc loop, both on the PN532 emulator;
//  3. CPU while idle with readers attached and no card: under 0.5 %.
// pcscd runs in private mount and network namespaces (as in the tests), so this needs root; the harness re-runs
// itself inside them: `tapd-reader-bench` → unshare → `tapd-reader-bench inner DIR`.

import APDU
import CBareReaders
import EMVKernel
import Foundation
import Readers
import Simulators

let arguments = CommandLine.arguments

func say(_ s: String) { FileHandle.standardOutput.write(Data((s + "\n").utf8)) }

if arguments.count < 3 || arguments[1] != "inner" {
    guard getuid() == 0 else {
        say("reader benchmarks skipped: pcscd's private namespaces need root")
        exit(0)
    }
    let dir = NSTemporaryDirectory() + "tapd-reader-bench-\(getpid())"
    try FileManager.default.createDirectory(atPath: dir + "/reader.conf.d", withIntermediateDirectories: true)
    try """
    FRIENDLYNAME "Virtual PCD"
    DEVICENAME   /dev/null:0x8C7B
    LIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so
    CHANNELID    0x8C7B

    """.write(toFile: dir + "/reader.conf.d/vpcd", atomically: true, encoding: .utf8)
    try FileManager.default.createDirectory(atPath: "/run/pcscd", withIntermediateDirectories: true)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
    p.arguments = [
        "--mount", "--net", "--fork", "/bin/sh", "-c",
        "mount -t tmpfs tmpfs /run/pcscd && ip link set lo up || exit 1; "
            + "/usr/sbin/pcscd --foreground --config \(dir)/reader.conf.d >/dev/null 2>&1 & P=$!; "
            + "\(arguments[0]) inner \(dir); R=$?; kill $P; sleep 0.5; kill -9 $P 2>/dev/null; exit $R",
    ]
    try p.run()
    p.waitUntilExit()
    try? FileManager.default.removeItem(atPath: dir)
    exit(p.terminationStatus)
}

// MARK: - Inside the namespaces

let ppse = try CommandAPDU.select(name: CommandAPDU.ppseName).encoded()
let reader = "Virtual PCD 00 00"

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s[s.count / 2]
}
func f(_ v: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", v) }

/// Alternates bare and tapd rounds so drift in the machine affects both alike; returns µs per APDU (medians).
@MainActor func compare(rounds: Int, _ bare: () throws -> Double, _ tapd: () async throws -> Double) async throws -> (
    bare: Double, tapd: Double
) {
    var b: [Double] = []
    var t: [Double] = []
    for _ in 0..<rounds {
        b.append(try bare())
        t.append(try await tapd())
    }
    return (median(b), median(t))
}

/// tapd's loop as the daemon runs it: the kernel's task prefers the card's executor, so each transmit is a direct
/// call on the reader's own thread.
func tapdLoop(_ card: any CardChannel, executor: ReaderExecutor, count: Int) async throws -> Double {
    try await withTaskExecutorPreference(executor) {
        let start = ContinuousClock.now
        for _ in 0..<count { _ = try await card.transmit(ppse) }
        let d = ContinuousClock.now - start
        return (Double(d.components.seconds) * 1e6 + Double(d.components.attoseconds) / 1e12) / Double(count)
    }
}

struct BenchError: Error, CustomStringConvertible { let description: String }

// Wait for pcscd and the vpcd reader.
var ctx: PCSCContext?
for _ in 0..<200 {
    if let c = try? PCSCContext(), (try? c.readers())?.contains(reader) == true {
        ctx = c
        break
    }
    try await Task.sleep(for: .milliseconds(50))
}
guard let ctx else {
    say("reader benchmarks: pcscd did not come up")
    exit(1)
}

say(
    "Reader benchmarks — pcscd 1.9.9 + vpcd, libnfc \(NFCContext.version) + PN532 emulator; SELECT PPSE to a virtual Visa card"
)

// 1. PC/SC.
let bridge = VPCDBridge(card: try VirtualCard(.visaCard()))
try await bridge.connect(port: 35963)
let serving = Task { try await bridge.serve() }
var known: [String: ReaderStatus] = [:]
for _ in 0..<100 {
    let s = try await ctx.waitForChange(known, readers: [reader], timeout: .seconds(1))
    if s.first?.cardPresent == true { break }
    if let r = s.first { known[reader] = r }
}
let apdusPerRound = 1000
let tapdCard = try PCSCCard(context: ctx, reader: reader)
for _ in 0..<200 { _ = try await tapdCard.transmit(ppse) }  // warm-up
let pcsc = try await compare(
    rounds: 15,
    {
        let ns = ppse.withUnsafeBufferPointer { bare_pcsc_loop(reader, $0.baseAddress, $0.count, Int32(apdusPerRound)) }
        guard ns > 0 else { throw BenchError(description: "bare PC/SC loop failed (\(ns))") }
        return Double(ns) / Double(apdusPerRound) / 1000
    },
    {
        try await tapdLoop(tapdCard, executor: tapdCard.executor, count: apdusPerRound)
    })
tapdCard.disconnect()
say(
    "PC/SC round trip per APDU: bare C \(f(pcsc.bare)) µs, tapd \(f(pcsc.tapd)) µs → ratio \(f(pcsc.tapd / pcsc.bare, 3)) (target ≤ 1.1)"
)
bridge.close()
_ = try? await serving.value

// 2. libnfc.
let emulator = try PN532Emulator()
emulator.present(try VirtualCard(.visaCard()))
let nfcContext = try NFCContext.shared()
let nfc = try await compare(
    rounds: 15,
    {
        let ns = ppse.withUnsafeBufferPointer {
            bare_nfc_loop(emulator.connstring, $0.baseAddress, $0.count, Int32(apdusPerRound))
        }
        guard ns > 0 else { throw BenchError(description: "bare libnfc loop failed (\(ns))") }
        return Double(ns) / Double(apdusPerRound) / 1000
    },
    {
        let r = try await NFCReader(context: nfcContext, connstring: emulator.connstring)
        defer { r.close() }
        guard let card = try await r.waitForCard(timeout: .seconds(2)) else {
            throw BenchError(description: "no card on the emulator")
        }
        return try await tapdLoop(card, executor: r.executor, count: apdusPerRound)
    })
say(
    "libnfc round trip per APDU: bare C \(f(nfc.bare)) µs, tapd \(f(nfc.tapd)) µs → ratio \(f(nfc.tapd / nfc.bare, 3)) (target ≤ 1.1)"
)

// 3. Idle: the reader manager with two vpcd readers and the emulated PN532 attached, no card anywhere.
emulator.present(nil)
let manager = ReaderManager(configuration: ReaderManagerConfiguration(libnfc: [emulator.connstring]))
await manager.start()
for _ in 0..<100 where await manager.snapshot().count < 3 { try await Task.sleep(for: .milliseconds(50)) }
let attached = await manager.snapshot().count
try await Task.sleep(for: .seconds(1))
func cpuSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(
        u.ru_stime.tv_usec) / 1e6
}
let idleSeconds = 20.0
let cpu0 = cpuSeconds()
let wall0 = ContinuousClock.now
try await Task.sleep(for: .seconds(idleSeconds))
let cpu = cpuSeconds() - cpu0
let wall = ContinuousClock.now - wall0
let wallSeconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
say(
    "Idle, \(attached) readers attached, no card, \(Int(idleSeconds)) s: \(f(cpu * 1000, 1)) ms CPU → \(f(cpu / wallSeconds * 100, 3)) % (target < 0.5 %; includes the in-process PN532 emulator)"
)
await manager.stop()
emulator.stop()
