// The acquirer link and service over real TLS on loopback against the acquirer host simulator: outcomes of an
// exchange (answered, never left, no answer), TLS that fails closed, one connection per transaction under
// concurrency, echo and keep-alive. What a sale's money does with these outcomes is the SaleBook's, tested in
// TapdCoreTests/SaleBookTests.swift with the journal.

import Foundation
import ISO8583
import NIOSSL
import Simulators
import TLV
import XCTest

@testable import Acquirer

/// STANs for the service, as the journal's counter would hand them out.
actor STANCounter {
    var n = 0
    func next() -> String {
        n += 1
        return String(format: "%06d", n)
    }
}

final class AcquirerTests: XCTestCase {
    var dir: String!
    var certs: TestCertificates!
    var simulator: AcquirerSimulator!
    var port = 0
    let stans = STANCounter()

    override func setUp() async throws {
        dir = NSTemporaryDirectory() + "tapd-acq-\(UUID().uuidString)"
        certs = try TestCertificates.generate(in: dir)
        simulator = try AcquirerSimulator(
            certificateFile: certs.serverCertificateFile, keyFile: certs.serverKeyFile, clientCAFile: certs.caFile)
        port = try await simulator.start()
    }

    override func tearDown() async throws {
        await simulator?.stop()
        try? FileManager.default.removeItem(atPath: dir)
    }

    func config(timeout: Double = 1.0, host: String = "127.0.0.1", pin: String? = nil) -> AcquirerConfiguration {
        var c = AcquirerConfiguration(
            host: host, port: port, caFile: certs.caFile, clientCertificateFile: certs.clientCertificateFile,
            clientKeyFile: certs.clientKeyFile, terminalID: "TAPD0001", merchantID: "TAPD00000000001")
        c.responseTimeout = timeout
        c.connectTimeout = 2
        c.acquirerInstitutionID = "123456"
        c.spkiPin = pin
        return c
    }

    func service(_ c: AcquirerConfiguration) throws -> AcquirerService {
        let counter = stans
        return AcquirerService(link: try AcquirerLink(configuration: c), stan: { await counter.next() })
    }

    /// A request without chip data (the simulator approves it without a cryptogram check).
    func request(_ s: AcquirerService, amount: UInt64) async -> ISOMessage {
        let card = CardTransaction(
            pan: "4761739001010119", track2: nil, expiry: "2812", panSequenceNumber: "01", amount: amount,
            currencyCode: 978, iccData: [])
        return s.request(card, stan: await stans.next())
    }

    /// The simulator's ledger is the proof of the money tests, so it must see amount faults as the acquirer would:
    /// a repeat with another amount than its original, a reversal of an amount the authorisation never had, a
    /// capture of more than was approved. A correct conversation leaves no violation.
    func testTheAcquirersLedgerCatchesAmountsThatDoNotAddUp() async throws {
        let s = try service(config())
        func send(_ m: ISOMessage) async { _ = await s.link.exchange(m) }
        // Correct: approved 1234, its reversal for 1234; a partial approval (.94: half) reversed for the half.
        let sale = await request(s, amount: 1234)
        await send(sale)
        await send(s.reversal(of: sale))
        let partial = await request(s, amount: 1294)
        await send(partial)
        var approvedPart = partial
        approvedPart[4] = Messages.amountField(647)
        await send(s.reversal(of: approvedPart))
        let clean = await simulator.ledger()
        XCTAssertEqual(clean.violations, [])
        XCTAssertEqual(clean.entries.map(\.approvedAmount), [1234, 647])

        // A repeat of the first sale with another amount.
        var repeated = sale
        repeated.mti = "0201"
        repeated[4] = Messages.amountField(1235)
        await send(repeated)
        // A reversal of another amount than the authorisation's.
        let other = await request(s, amount: 500)
        await send(other)
        var wrongReversal = s.reversal(of: other)
        wrongReversal[4] = Messages.amountField(5000)
        await send(wrongReversal)
        let faults = await simulator.ledger().violations
        XCTAssertEqual(faults.count, 2, "\(faults)")
        XCTAssertTrue(faults.contains { $0.hasPrefix("repeat 0201") }, "\(faults)")
        XCTAssertTrue(faults.contains { $0.hasPrefix("reversal 0400") }, "\(faults)")
    }

    func testACaptureOfMoreThanWasApprovedIsALedgerViolation() async throws {
        var c = config()
        c.requestMTI = "0100"
        let s = try service(c)
        let auth = await request(s, amount: 1000)
        _ = await s.link.exchange(auth)
        _ = await s.link.exchange(s.capture(of: auth, amount: 1000, approvalCode: nil, stan: await stans.next()))
        let first = await simulator.ledger().violations
        XCTAssertEqual(first, [])
        let second = await request(s, amount: 1000)
        _ = await s.link.exchange(second)
        _ = await s.link.exchange(s.capture(of: second, amount: 1500, approvalCode: nil, stan: await stans.next()))
        let v = await simulator.ledger().violations
        XCTAssertEqual(v.count, 1)
        XCTAssertTrue(v.first?.hasPrefix("capture") == true, "\(v)")
    }

    func testOutcomesOfAnExchange() async throws {
        let s = try service(config(timeout: 0.5))
        guard case .answered(let a) = await s.send(await request(s, amount: 1234)) else { return XCTFail("approved") }
        XCTAssertEqual(a.mti, "0210")
        XCTAssertEqual(a[39], "00")
        guard case .noAnswer(.timeout) = await s.send(await request(s, amount: 1291)) else {
            return XCTFail("no answer")
        }
        // A step before the first byte that fails (the journal refusing "transmitted"): nothing is written.
        let before = await simulator.received.count
        struct Refused: Error {}
        guard
            case .neverLeft(.notPersisted) = await s.send(
                await request(s, amount: 1234), beforeTransmit: { throw Refused() })
        else {
            return XCTFail("never left")
        }
        try await Task.sleep(for: .milliseconds(100))
        let after = await simulator.received.count
        XCTAssertEqual(before, after, "nothing reaches the acquirer when the transmitted mark is not on disk")
        let timers = await s.link.armedTimers
        XCTAssertEqual(timers, 0, "a finished exchange leaves no timer armed")
    }

    /// Issue rule: with one connection per transaction, concurrent exchanges never cut each other's answers, and
    /// timeout timers of finished exchanges are cancelled.
    func testConcurrentExchangesOnOneConnectionEachKeepTheirAnswers() async throws {
        var c = config(timeout: 5)
        c.persistentConnection = false
        let s = try service(c)
        // Answers arrive out of order: the amount's last digits decide the delay.
        await simulator.setRule { m in
            guard m.mtiClass == "2", let amount = m[4], let n = Int(amount.suffix(2)) else { return nil }
            return .slow(.milliseconds(Int64(n * 15)), responseCode: "00")
        }
        var requests: [ISOMessage] = []
        for i in 0..<8 { requests.append(await request(s, amount: UInt64(1000 + (8 - i) * 3))) }
        let answers = await withTaskGroup(of: (String?, String?).self) { g in
            for r in requests {
                g.addTask {
                    guard case .answered(let a) = await s.send(r) else { return (r[11], nil) }
                    return (r[11], a[11])
                }
            }
            return await g.reduce(into: [(String?, String?)]()) { $0.append($1) }
        }
        XCTAssertEqual(answers.count, 8)
        for (asked, got) in answers { XCTAssertEqual(asked, got, "each exchange gets the answer to its own STAN") }
        let timers = await s.link.armedTimers
        XCTAssertEqual(timers, 0)
        let connected = await s.link.isConnected
        XCTAssertFalse(connected, "per-transaction connections are closed after their exchange")
    }

    func testTLSFailsClosed() async throws {
        for (name, cert, key, maxTLS) in [
            (
                "server certificate from another CA", certs.foreignServerCertificateFile, certs.foreignServerKeyFile,
                nil as TLSVersion?
            ),
            ("expired server certificate", certs.expiredServerCertificateFile, certs.serverKeyFile, nil),
            ("server limited to TLS 1.1", certs.serverCertificateFile, certs.serverKeyFile, TLSVersion.tlsv11),
        ] {
            let bad = try AcquirerSimulator(
                certificateFile: cert, keyFile: key, clientCAFile: certs.caFile, maximumTLSVersion: maxTLS)
            let badPort = try await bad.start()
            var c = config()
            c.port = badPort
            let s = try service(c)
            guard case .neverLeft(let e) = await s.send(await request(s, amount: 1234)) else {
                XCTFail(name)
                continue
            }
            XCTAssertTrue("\(e)".contains("TLS"), "\(name): \(e)")
            XCTAssertFalse("\(e)".contains("/"), "\(name): said in words, without a library dump or a path: \(e)")
            let seen = await bad.received
            XCTAssertTrue(seen.isEmpty, "\(name): nothing may reach a server that failed verification")
            await bad.stop()
        }
        // A pin that matches passes; one that does not fails closed.
        let good = try AcquirerTLS.spkiPin(ofPEMFile: certs.serverCertificateFile)
        let ok = try service(config(pin: good))
        guard case .answered = await ok.send(await request(ok, amount: 1234)) else { return XCTFail("pinned") }
        let pinned = try service(config(pin: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="))
        guard case .neverLeft = await pinned.send(await request(pinned, amount: 1234)) else {
            return XCTFail("wrong pin")
        }
        // The host name is checked against the certificate.
        let wrongName = try service(config(host: "tapd.localhost"))
        guard case .neverLeft = await wrongName.send(await request(wrongName, amount: 1234)) else {
            return XCTFail("host name")
        }
        // TLS 1.2 offers only ECDHE key exchange with AEAD ciphers.
        let suites = AcquirerTLS.tls12CipherSuites.split(separator: ":")
        XCTAssertFalse(suites.isEmpty)
        XCTAssertTrue(
            suites.allSatisfy { $0.hasPrefix("ECDHE-") && ($0.contains("GCM") || $0.contains("CHACHA20-POLY1305")) },
            "\(suites)")
    }

    func testSignOnFirstAndFailingFastWhileTheAcquirerIsAway() async throws {
        var c = config()
        c.signOn = true
        let s = try service(c)
        guard case .answered = await s.send(await request(s, amount: 1234)) else { return XCTFail() }
        let seen = await simulator.received
        XCTAssertEqual(seen.first?.mti, "0800")
        XCTAssertEqual(seen.first?[70], "001", "sign-on first")
        // The acquirer disappears: the second attempt fails at once instead of waiting for a connect timeout.
        await simulator.stop()
        await s.link.close()
        guard case .neverLeft = await s.send(await request(s, amount: 1234)) else { return XCTFail() }
        guard case .neverLeft(let e) = await s.send(await request(s, amount: 1234)) else { return XCTFail() }
        XCTAssertTrue("\(e)".contains("next attempt"), "\(e)")
    }

    func testStoreAndForwardBackoffIsExponentialAndCapped() {
        var c = config()
        c.safRetryInterval = 10
        c.safRetryMaxInterval = 35
        XCTAssertEqual((1...5).map(c.safRetryDelay(afterTries:)), [10, 20, 35, 35, 35])
    }

    func testConfigurationFileKeysAndDefaults() throws {
        let minimal =
            #"{"host":"acq.example","port":7000,"caFile":"/etc/tapd/ca.pem","clientCertificateFile":"/etc/tapd/c.pem","clientKeyFile":"/etc/tapd/k.pem","terminalID":"TAPD0001","merchantID":"TAPD00000000001"}"#
        let c = try JSONDecoder().decode(AcquirerConfiguration.self, from: Data(minimal.utf8))
        XCTAssertEqual(c.profile, "iso87-ascii")
        XCTAssertEqual(c.responseTimeout, 30)
        XCTAssertEqual(c.safRetryResponseCodes, ["91", "96"])
        XCTAssertTrue(c.persistentConnection)
        let custom =
            minimal.dropLast()
            + #","profile":"iso87-bcd","requestMTI":"0100","reversalMTI":"0420","spkiPin":"abc=","safRetryInterval":5}"#
        let d = try JSONDecoder().decode(AcquirerConfiguration.self, from: Data(custom.utf8))
        XCTAssertEqual(d.profile, "iso87-bcd")
        XCTAssertEqual(d.requestMTI, "0100")
        XCTAssertEqual(d.reversalMTI, "0420")
        XCTAssertEqual(d.spkiPin, "abc=")
        XCTAssertEqual(d.safRetryDelay(afterTries: 3), 20)
        let base = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(minimal.utf8)) as? [String: Any])
        let bad: [(String, Any)] = [
            ("profile", "iso93"), ("requestMTI", "0300"), ("reversalMTI", "0410"), ("port", 0),
            ("terminalID", "T1"), ("merchantID", "M"), ("responseTimeout", -1),
        ]
        for (key, value) in bad {
            var o = base
            o[key] = value
            let json = try JSONSerialization.data(withJSONObject: o)
            XCTAssertThrowsError(try JSONDecoder().decode(AcquirerConfiguration.self, from: json), key) { error in
                XCTAssertTrue("\(error)".contains(key == "responseTimeout" ? "timeouts" : key), "\(error)")
            }
        }
        XCTAssertThrowsError(
            try JSONDecoder().decode(AcquirerConfiguration.self, from: Data(#"{"host":"x"}"#.utf8)), "required keys")
    }

    func testEchoAndKeepAlive() async throws {
        var c = config()
        c.echoInterval = 0.2
        let s = try service(c)
        let ok = await s.echo()
        XCTAssertTrue(ok)
        final class Count: @unchecked Sendable {
            let lock = NSLock()
            var n = 0
        }
        let answered = Count()
        let keepAlive = Task { await s.keepAlive { answered.lock.withLock { answered.n += 1 } } }
        try await Task.sleep(for: .milliseconds(700))
        keepAlive.cancel()
        let echoes = await simulator.received.filter { $0.mti == "0800" && $0[70] == "301" }
        XCTAssertGreaterThanOrEqual(echoes.count, 2, "echo on idle")
        XCTAssertGreaterThanOrEqual(answered.lock.withLock { answered.n }, 1, "each answered echo lets the queue drain")
        // An acquirer that does not answer echoes: the echo fails and the connection is dropped.
        await simulator.setRule { m in m.mti == "0800" ? .noAnswer : nil }
        c.responseTimeout = 0.3
        let quiet = try service(c)
        let failed = await quiet.echo()
        XCTAssertFalse(failed)
        let connected = await quiet.link.isConnected
        XCTAssertFalse(connected)
    }
}
