// Daemon benchmarks (release mode, `make bench`), the targets of the daemon issue:
//  1. tap-to-outcome: from the card detected to the sale's result, with the card's own time and the acquirer's
//     round trip taken out — the coordinator, the kernel (ODA included), the journal's fsyncs and the events;
//  2. cold start of `tapd run` to the API answering: under 300 ms;
//  3. idle RSS under 40 MB and idle CPU under 0.5 % of the running daemon with a reader attached.

import APDU
import Acquirer
import EMVKernel
import Foundation
import Journal
import Readers
import Simulators
import TapdCore

func say(_ s: String) { FileHandle.standardOutput.write(Data((s + "\n").utf8)) }
func f(_ v: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", v) }
func us(_ d: Duration) -> Double { Double(d.components.seconds) * 1e6 + Double(d.components.attoseconds) / 1e12 }
func percentile(_ xs: [Double], _ p: Double) -> Double {
    let s = xs.sorted()
    return s[min(s.count - 1, Int(Double(s.count) * p))]
}

// MARK: 1. Tap-to-outcome, in process.

/// A card channel that adds up the time the card itself takes.
final class TimedCard: CardChannel, @unchecked Sendable {
    let card: VirtualCard
    private let lock = NSLock()
    private var spent: Duration = .zero
    init(_ card: VirtualCard) { self.card = card }
    func transmit(_ command: [UInt8]) async throws -> [UInt8] {
        let t0 = ContinuousClock.now
        defer {
            let d = ContinuousClock.now - t0
            lock.withLock { spent += d }
        }
        return try await card.transmit(command)
    }
    var cardTime: Duration { lock.withLock { spent } }
}

/// One reader that hands out the next card at once and notes when it did (the card detected).
final class BenchPool: CardReaderPool, @unchecked Sendable {
    let executor = ReaderExecutor(label: "bench.reader")
    let lock = NSLock()
    var profile: CardProfile = .visaCard()
    var current: TimedCard?
    var detected: ContinuousClock.Instant?
    var result: ContinuousClock.Instant?
    func lease(_ name: String?) async throws -> any CardReaderSession { BenchSession(pool: self) }
    func snapshot() async -> [ReaderSnapshot] { [] }
}

final class BenchSession: CardReaderSession, @unchecked Sendable {
    let pool: BenchPool
    var reader: String { "bench" }
    init(pool: BenchPool) { self.pool = pool }
    func waitForCard(timeout: Duration) async throws -> TappedCard? {
        let card = TimedCard(try VirtualCard(pool.profile))
        pool.lock.withLock {
            pool.current = card
            pool.detected = ContinuousClock.now
        }
        return TappedCard(channel: card, answerToSelect: [], executor: pool.executor)
    }
    func cancel() {}
    func signal(_ s: UISignal) async {
        if [.approved, .declined, .error].contains(s) { pool.lock.withLock { pool.result = ContinuousClock.now } }
    }
    func waitForRemoval(timeout: Duration) async -> Bool { true }
    func finish(failure: String?) async {}
}

let dir = NSTemporaryDirectory() + "tapd-daemon-bench-\(getpid())"
try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: dir) }
let certs = try TestCertificates.generate(in: dir + "/tls")
let simulator = try AcquirerSimulator(
    certificateFile: certs.serverCertificateFile, keyFile: certs.serverKeyFile, clientCAFile: certs.caFile)
let port = try await simulator.start()
let journal = try Journal(
    path: dir + "/journal.sqlite", key: try JournalKey(bytes: (0..<32).map { _ in UInt8.random(in: 0...255) }))
var acquirerConfig = AcquirerConfiguration(
    host: "127.0.0.1", port: port, caFile: certs.caFile, clientCertificateFile: certs.clientCertificateFile,
    clientKeyFile: certs.clientKeyFile, terminalID: "TAPD0001", merchantID: "TAPDBENCH000001")
acquirerConfig.drainBeforeOnline = false
let acquirer = AcquirerService(
    link: try AcquirerLink(configuration: acquirerConfig), stan: { try await journal.nextSTAN() })
let pool = BenchPool()
let metrics = TapdMetrics()
var settings = DaemonSettings()
settings.removeCardTimeout = 0
let events = EventHub()
let book = SaleBook(journal: journal, acquirer: acquirer, events: events, metrics: metrics)
let coordinator = TransactionCoordinator(
    readers: pool, book: book, terminal: KernelDemo.demoTerminal(),
    keys: try KernelDemo.demoKeys(), events: events, metrics: metrics, settings: settings)

/// The sum of the online round trips so far, from the metrics' histogram.
func onlineSum() -> Double {
    let text = metrics.exposition()
    guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("tapd_online_round_trip_seconds_sum") }),
        let v = Double(line.split(separator: " ").last ?? "")
    else { return 0 }
    return v * 1e6
}

say("Daemon benchmarks — release build; journal on disk (fsync), acquirer simulator over TLS on loopback")
for (label, profile, amount) in [
    ("Visa card online (ARQC, acquirer round trip excluded)", CardProfile.visaCard(), 1200),
    ("Visa card offline with fDDA (advice queued)", CardProfile.visaCard(offline: true), 800),
    ("Mastercard card online with CDA", CardProfile.mastercardCard(), 1300),
] {
    pool.profile = profile
    var samples: [Double] = []
    for i in 0..<220 {
        let before = onlineSum()
        let (v, _) = try await coordinator.start(
            SaleRequest(amount: Int64(amount), idempotencyKey: "bench-\(label.prefix(4))-\(i)-\(UUID())"))
        var t = v
        while !t.final {
            try await Task.sleep(for: .microseconds(200))
            t = try await coordinator.transaction(v.id)!
        }
        guard t.status == .approved else {
            say("unexpected \(t.status): \(t.reason ?? "")")
            exit(1)
        }
        let (detected, result, card) = pool.lock.withLock { (pool.detected!, pool.result!, pool.current!) }
        let total = us(result - detected) - us(card.cardTime) - (onlineSum() - before)
        if i >= 20 { samples.append(total) }  // the first ones warm up TLS, SQLite and the caches
    }
    say(
        "Tap-to-outcome, \(label): p50 \(f(percentile(samples, 0.5))) µs, p99 \(f(percentile(samples, 0.99))) µs (\(samples.count) sales)"
    )
}
await acquirer.link.close()

// MARK: 2–3. The daemon binary: cold start, idle RSS and CPU.

guard let tapd = ProcessInfo.processInfo.environment["TAPD_BINARY"], FileManager.default.isExecutableFile(atPath: tapd)
else {
    say("cold start / idle: skipped (set TAPD_BINARY to a release build of tapd; `make bench` does)")
    await simulator.stop()
    exit(0)
}
let emulator = try PN532Emulator()
FileManager.default.createFile(
    atPath: dir + "/journal.key", contents: Data((0..<32).map { _ in UInt8.random(in: 0...255) }),
    attributes: [.posixPermissions: 0o600])
try """
[daemon]
socket = "\(dir)/api.sock"
[journal]
path = "\(dir)/daemon.sqlite"
key_file = "\(dir)/journal.key"
[readers]
pcsc = false
libnfc = ["\(emulator.connstring)"]
[acquirer]
host = "127.0.0.1"
port = \(port)
ca_file = "\(certs.caFile)"
client_certificate_file = "\(certs.clientCertificateFile)"
client_key_file = "\(certs.clientKeyFile)"
terminal_id = "TAPD0001"
merchant_id = "TAPDBENCH000001"
""".write(toFile: dir + "/tapd.toml", atomically: true, encoding: .utf8)

func healthy(_ socket: String) -> Bool {
    let fd = socket_unix(socket)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    let req = Array("GET /v1/health HTTP/1.1\r\nHost: tapd\r\nConnection: close\r\n\r\n".utf8)
    guard send(fd, req, req.count, 0) == req.count else { return false }
    var b = [UInt8](repeating: 0, count: 64)
    let n = recv(fd, &b, b.count, 0)
    return n > 12 && String(decoding: b.prefix(n), as: UTF8.self).hasPrefix("HTTP/1.1 200")
}

func socket_unix(_ path: String) -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in path.utf8.enumerated() { p[i] = b } }
    let rv = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
        }
    }
    if rv != 0 {
        close(fd)
        return -1
    }
    return fd
}

var starts: [Double] = []
var last: Process?
for i in 0..<11 {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: tapd)
    p.arguments = ["run", "--config", dir + "/tapd.toml"]
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    let t0 = ContinuousClock.now
    try p.run()
    while !healthy(dir + "/api.sock") {
        guard p.isRunning else {
            say("tapd exited during start")
            exit(1)
        }
        usleep(500)
    }
    let d = ContinuousClock.now - t0
    if i > 0 { starts.append(us(d) / 1000) }  // the first start creates the journal
    if i < 10 {
        p.terminate()
        p.waitUntilExit()
    } else {
        last = p
    }
}
say(
    "Cold start of tapd run to /v1/health answering: median \(f(percentile(starts, 0.5))) ms, worst \(f(starts.max()!)) ms (10 starts; target < 300 ms)"
)

let daemon = last!
/// One request on the API socket; the whole answer as text.
func http(_ method: String, _ path: String, _ body: String = "") -> String {
    let fd = socket_unix(dir + "/api.sock")
    guard fd >= 0 else { return "" }
    defer { close(fd) }
    let req = Array(
        "\(method) \(path) HTTP/1.1\r\nHost: tapd\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            .utf8)
    _ = send(fd, req, req.count, 0)
    var all = [UInt8]()
    var b = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = recv(fd, &b, b.count, 0)
        if n <= 0 { break }
        all += b.prefix(n)
    }
    return String(decoding: all, as: UTF8.self)
}
// The daemon does some work first (three sales through its API and the PN532), so the idle figures are those of a
// terminal between customers, not of one that never sold anything.
for _ in 0..<200 where !http("GET", "/v1/readers").contains("pn532_uart") { usleep(50_000) }
for i in 0..<3 {
    emulator.present(try VirtualCard(.visaCard()))
    let created = http("POST", "/v1/transactions", "{\"amount\":\(500 + i),\"idempotency_key\":\"idle-\(i)\"}")
    guard let r = created.range(of: #""id":"[0-9a-f-]+""#, options: .regularExpression) else {
        say("sale failed: \(created)")
        exit(1)
    }
    let id = created[r].dropFirst(6).dropLast()
    while !http("GET", "/v1/transactions/\(id)").contains("\"final\":true") { usleep(20_000) }
    emulator.present(nil)
    usleep(300_000)
}
sleep(3)
func procStat(_ pid: Int32) -> (cpuSeconds: Double, rssMB: Double) {
    let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
    let fields = stat.split(separator: ")").last?.split(separator: " ").map(String.init) ?? []
    let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
    let cpu = fields.count > 13 ? ((Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)) / ticks : 0
    let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    let rssKB =
        status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }.flatMap {
            Double($0.split(separator: " ").dropFirst().first ?? "")
        } ?? 0
    return (cpu, rssKB / 1024)
}
let a = procStat(daemon.processIdentifier)
let idleSeconds = 30.0
sleep(UInt32(idleSeconds))
let b = procStat(daemon.processIdentifier)
let status = (try? String(contentsOfFile: "/proc/\(daemon.processIdentifier)/status", encoding: .utf8)) ?? ""
let anon =
    status.split(separator: "\n").first { $0.hasPrefix("RssAnon:") }.flatMap {
        Double($0.split(separator: " ").dropFirst().first ?? "")
    } ?? 0
say(
    "Idle daemon after 3 sales (one libnfc reader attached, acquirer link up), \(Int(idleSeconds)) s: RSS \(f(b.rssMB)) MB (target < 40 MB; private \(f(anon / 1024)) MB), "
        + "CPU \(f((b.cpuSeconds - a.cpuSeconds) / idleSeconds * 100, 3)) % (target < 0.5 %)")
// Where the resident memory is: Rss per mapped file (anonymous memory as one line), largest first.
func rssByMapping(_ pid: Int32) -> [(name: String, kB: Int)] {
    // Read with read(2) to the end: /proc files report size 0 and are produced a page at a time.
    var bytes = [UInt8]()
    let fd = open("/proc/\(pid)/smaps", O_RDONLY)
    if fd >= 0 {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { break }
            bytes += chunk.prefix(n)
        }
        close(fd)
    }
    let smaps = String(decoding: bytes, as: UTF8.self)
    var totals: [String: Int] = [:]
    var current = "[anonymous]"
    for line in smaps.split(separator: "\n") {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        if let first = fields.first, first.contains("-"), first.first?.isHexDigit == true {
            current = fields.count >= 6 ? String(fields[5...].joined(separator: " ")) : "[anonymous]"
            if current.hasPrefix("[stack") || current == "[heap]" { current = "[anonymous]" }
            current = (current as NSString).lastPathComponent
        } else if fields.first == "Rss:", fields.count >= 2, let kB = Int(fields[1]) {
            totals[current, default: 0] += kB
        }
    }
    return totals.map { ($0.key, $0.value) }.sorted { $0.kB > $1.kB }
}
let mappings = rssByMapping(daemon.processIdentifier)
say(
    "  resident by mapping: "
        + mappings.prefix(8).map { "\($0.name) \(f(Double($0.kB) / 1024)) MB" }.joined(separator: ", ")
        + ", other \(f(Double(mappings.dropFirst(8).reduce(0) { $0 + $1.kB }) / 1024)) MB")
daemon.terminate()
daemon.waitUntilExit()
emulator.stop()
await simulator.stop()
