// The acquirer link over real TLS on loopback against the acquirer host simulator, with the journal on a real
// SQLite file and real cryptograms from the virtual cards (the simulator verifies them).
import XCTest
import Foundation
import NIOSSL
import TLV
import ISO8583
import Journal
@testable import Acquirer
import EMVKernel
import Simulators
import TapdCore

final class AcquirerTests: XCTestCase {
    var dir: String!
    var certs: TestCertificates!
    var simulator: AcquirerSimulator!
    var port = 0
    var journal: Journal!

    override func setUp() async throws {
        dir = NSTemporaryDirectory() + "tapd-acq-\(UUID().uuidString)"
        certs = try TestCertificates.generate(in: dir)
        simulator = try AcquirerSimulator(certificateFile: certs.serverCertificateFile, keyFile: certs.serverKeyFile, clientCAFile: certs.caFile)
        port = try await simulator.start()
        journal = try Journal(path: dir + "/journal.sqlite", key: try JournalKey(bytes: [UInt8](repeating: 7, count: 32)))
    }

    override func tearDown() async throws {
        await simulator?.stop()
        try? FileManager.default.removeItem(atPath: dir)
    }

    func config(timeout: Double = 1.0, host: String = "127.0.0.1", pin: String? = nil) -> AcquirerConfiguration {
        var c = AcquirerConfiguration(host: host, port: port, caFile: certs.caFile, clientCertificateFile: certs.clientCertificateFile,
                                      clientKeyFile: certs.clientKeyFile, terminalID: "TAPD0001", merchantID: "TAPD00000000001")
        c.responseTimeout = timeout
        c.connectTimeout = 2
        c.acquirerInstitutionID = "123456"
        c.spkiPin = pin
        return c
    }

    func service(_ c: AcquirerConfiguration) throws -> AcquirerService {
        AcquirerService(link: try AcquirerLink(configuration: c), journal: journal)
    }

    /// A real tap with a virtual card, mapped to what the acquirer message needs (as the daemon maps it), and a
    /// journal entry in card_read.
    func sale(_ profile: CardProfile, amount: UInt64) async throws -> (id: String, card: CardTransaction) {
        var keys = try CAKeyStore.bundled(includeTestKeys: true)
        try VirtualCard.pki(for: profile.scheme).register(in: &keys)
        let ep = EntryPoint(configuration: TerminalConfiguration(), keys: keys, risk: RiskManager())
        let txn = TransactionParameters(amount: amount, date: EMVDate(year: 2026, month: 11, day: 26)!)
        let o = await ep.process(card: try VirtualCard(profile), transaction: txn, combinations: ep.preProcess(txn)!)
        XCTAssertEqual(o.kind, .onlineRequest)
        let card = try OnlineRequest.cardTransaction(from: o)
        let (rec, _) = try journal.createTransaction(idempotencyKey: UUID().uuidString, amount: Int64(amount), currency: 978)
        try journal.update(rec.id, to: .cardRead, maskedPAN: o.maskedPAN)
        return (rec.id, card)
    }

    func testApprovedWithARPCForBothSchemes() async throws {
        let s = try service(config())
        for (p, arpcLength) in [(CardProfile.visaCard(), 8), (.mastercardCard(), 10)] {
            let (id, card) = try await sale(p, amount: 1234)
            let r = await s.authorize(transactionID: id, card: card)
            XCTAssertEqual(r.kind, .approved, r.reason ?? "")
            XCTAssertEqual(r.responseCode, "00")
            XCTAssertEqual(r.icc?.issuerAuthenticationData?.count, arpcLength, "ARPC in tag 91 (\(p.name))")
            XCTAssertEqual(try journal.transaction(id)?.state, .answered)
            XCTAssertEqual(try journal.transaction(id)?.responseCode, "00")
        }
        let seen = await simulator.received
        XCTAssertEqual(seen.map(\.mti), ["0200", "0200"])
        XCTAssertEqual(seen.first?[22], "072")
        XCTAssertNotNil(seen.first?.bytes(55))
    }

    func testDeclineAndCryptogramMismatch() async throws {
        let s = try service(config())
        let (id, card) = try await sale(.visaCard(), amount: 1251)
        let r = await s.authorize(transactionID: id, card: card)
        XCTAssertEqual(r.kind, .declined)
        XCTAssertEqual(r.responseCode, "51")
        // A cryptogram that does not match the data: the issuer refuses (05).
        var (id2, card2) = try await sale(.visaCard(), amount: 1234)
        card2.amount = 1299
        let r2 = await s.authorize(transactionID: id2, card: card2)
        XCTAssertEqual(r2.responseCode, "05")
    }

    func testNoAnswerIsReversedWithTheSameSTAN() async throws {
        let s = try service(config(timeout: 0.5))
        let (id, card) = try await sale(.mastercardCard(), amount: 1291)
        let r = await s.authorize(transactionID: id, card: card)
        XCTAssertEqual(r.kind, .unanswered)
        XCTAssertEqual(try journal.transaction(id)?.state, .reversalQueued)
        _ = await s.deliverQueue()
        XCTAssertEqual(try journal.transaction(id)?.state, .reversed)
        // (Never print the stored request: it holds card data.)
        XCTAssertTrue(try journal.request(of: id) == nil, "card data deleted once the reversal is acknowledged")
        let seen = await simulator.received
        let reversals = seen.filter { $0.mtiClass == "4" }
        XCTAssertEqual(reversals.count, 1)
        XCTAssertEqual(reversals[0][11], r.stan)
        XCTAssertEqual(reversals[0][90]?.prefix(10), "0200" + r.stan!)
        XCTAssertEqual(reversals[0][4], seen[0][4])
        XCTAssertEqual(try journal.safDepth(), 0)
    }

    func testQueueGrowsWhileTheAcquirerIsDownAndDrainsInOrder() async throws {
        let s = try service(config(timeout: 0.5))
        await simulator.setRule { _ in .noAnswer }
        var stans: [String] = []
        for _ in 0..<3 {
            let (id, card) = try await sale(.visaCard(), amount: 1234)
            let r = await s.authorize(transactionID: id, card: card)
            XCTAssertEqual(r.kind, .unanswered)
            stans.append(r.stan!)
        }
        XCTAssertEqual(try journal.safDepth(), 3)
        // The acquirer goes away: nothing is delivered, nothing is lost.
        await simulator.stop()
        let v1 = await s.deliverQueue()
        XCTAssertEqual(v1, 0)
        XCTAssertEqual(try journal.safDepth(), 3)
        // It comes back on the same port: the queue drains in order, each reversal delivered once.
        let back = try AcquirerSimulator(certificateFile: certs.serverCertificateFile, keyFile: certs.serverKeyFile, clientCAFile: certs.caFile)
        _ = try await back.start(port: port)
        defer { Task { await back.stop() } }
        await s.link.close()
        let notDue = await s.deliverQueue()
        XCTAssertEqual(notDue, 0, "a head whose retry time has not come waits")
        let v2 = await s.deliverQueue(now: Date().addingTimeInterval(60))
        XCTAssertEqual(v2, 3)
        XCTAssertEqual(try journal.safDepth(), 0)
        let reversals = await back.received.filter { $0.mtiClass == "4" }
        XCTAssertEqual(reversals.map { $0[11]! }, stans, "FIFO, each STAN once")
        XCTAssertTrue(reversals.allSatisfy { $0.mti == "0400" || $0.mti == "0401" }, "repeats only as 0401")
    }

    func testTLSFailsClosed() async throws {
        for (name, cert, key, maxTLS) in [
            ("server certificate from another CA", certs.foreignServerCertificateFile, certs.foreignServerKeyFile, nil as TLSVersion?),
            ("expired server certificate", certs.expiredServerCertificateFile, certs.serverKeyFile, nil),
            ("server limited to TLS 1.1", certs.serverCertificateFile, certs.serverKeyFile, TLSVersion.tlsv11),
        ] {
            let bad = try AcquirerSimulator(certificateFile: cert, keyFile: key, clientCAFile: certs.caFile, maximumTLSVersion: maxTLS)
            let badPort = try await bad.start()
            var c = config()
            c.port = badPort
            let s = try service(c)
            let (id, card) = try await sale(.visaCard(), amount: 1234)
            let r = await s.authorize(transactionID: id, card: card)
            XCTAssertEqual(r.kind, .failed, name)
            XCTAssertTrue(r.reason?.contains("TLS") == true, "\(name): \(r.reason ?? "")")
            XCTAssertEqual(try journal.transaction(id)?.state, .failed, "\(name): never sent, so nothing to reverse")
            let seen = await bad.received
            XCTAssertTrue(seen.isEmpty, "\(name): nothing may reach a server that failed verification")
            await bad.stop()
        }
        // A pin that matches passes; one that does not fails closed.
        let good = try AcquirerTLS.spkiPin(ofPEMFile: certs.serverCertificateFile)
        let (id1, card1) = try await sale(.visaCard(), amount: 1234)
        let ok = await (try service(config(pin: good))).authorize(transactionID: id1, card: card1)
        XCTAssertEqual(ok.kind, .approved)
        let (id2, card2) = try await sale(.visaCard(), amount: 1234)
        let pinned = await (try service(config(pin: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="))).authorize(transactionID: id2, card: card2)
        XCTAssertEqual(pinned.kind, .failed)
        // The host name is checked against the certificate.
        let (id3, card3) = try await sale(.visaCard(), amount: 1234)
        let wrongName = await (try service(config(host: "tapd.localhost"))).authorize(transactionID: id3, card: card3)
        XCTAssertEqual(wrongName.kind, .failed)
    }

    func testMalformedAndOversizedAnswersAreReversed() async throws {
        let s = try service(config(timeout: 0.5))
        await simulator.setRule { m in m.mtiClass == "2" ? .raw([0x00, 0x04] + Array("XXXX".utf8)) : nil }
        let (id, card) = try await sale(.visaCard(), amount: 1234)
        let r = await s.authorize(transactionID: id, card: card)
        XCTAssertEqual(r.kind, .unanswered)
        XCTAssertEqual(try journal.transaction(id)?.state, .reversalQueued)
        await simulator.setRule { m in m.mtiClass == "2" ? .raw([0xFF, 0xFF, 0x30, 0x32]) : nil }
        let (id2, card2) = try await sale(.visaCard(), amount: 1234)
        let r2 = await s.authorize(transactionID: id2, card: card2)
        XCTAssertEqual(r2.kind, .unanswered, "an oversized frame closes the connection; the request is reversed")
        await simulator.setRule(nil)
        _ = await s.deliverQueue()
        XCTAssertEqual(try journal.safDepth(), 0)
        XCTAssertEqual(try journal.transaction(id)?.state, .reversed)
        XCTAssertEqual(try journal.transaction(id2)?.state, .reversed)
        let reversed = await simulator.received.filter { $0.mtiClass == "4" }.map { $0[11] }
        XCTAssertEqual(Set(reversed), [r.stan, r2.stan])
        XCTAssertEqual(reversed.count, 2, "each reversed once")
    }

    func testAdvicesSignOnAndBackoff() async throws {
        var c = config()
        c.signOn = true
        let s = try service(c)
        // An offline approval becomes an 0220 advice (DE 39 Y1), delivered through the queue.
        let (id, card) = try await sale(.visaCard(), amount: 850)
        try journal.update(id, to: .approvedOffline)
        try await s.queueAdvice(transactionID: id, card: card)
        XCTAssertEqual(try journal.transaction(id)?.state, .adviceQueued)
        let delivered = await s.deliverQueue()
        XCTAssertEqual(delivered, 1)
        XCTAssertEqual(try journal.transaction(id)?.state, .adviceDelivered)
        let seen = await simulator.received
        XCTAssertEqual(seen.first?.mti, "0800"); XCTAssertEqual(seen.first?[70], "001", "sign-on first")
        XCTAssertEqual(seen.last?.mti, "0220"); XCTAssertEqual(seen.last?[39], "Y1")
        // The acquirer disappears: the second attempt fails at once instead of waiting for a connect timeout.
        await simulator.stop()
        await s.link.close()
        let (id2, card2) = try await sale(.visaCard(), amount: 1234)
        let first = await s.authorize(transactionID: id2, card: card2)
        XCTAssertEqual(first.kind, .failed)
        let (id3, card3) = try await sale(.visaCard(), amount: 1234)
        let second = await s.authorize(transactionID: id3, card: card3)
        XCTAssertEqual(second.kind, .failed)
        XCTAssertTrue(second.reason?.contains("next attempt") == true, second.reason ?? "")
    }

    func testStoreAndForwardBacksOffExponentially() async throws {
        var c = config()
        c.safRetryInterval = 10
        c.safRetryMaxInterval = 35
        let s = try service(c)
        // The acquirer answers the advice "91, try later" each time: the entry stays, waiting 10, 20, 35, 35 s.
        await simulator.setRule { m in m.mtiClass == "2" ? .answer(responseCode: "91") : nil }
        let (id, card) = try await sale(.visaCard(), amount: 850)
        try journal.update(id, to: .approvedOffline)
        try await s.queueAdvice(transactionID: id, card: card)
        var now = Date()
        for expected in [10.0, 20, 35, 35] {
            let n = await s.deliverQueue(now: now)
            XCTAssertEqual(n, 0)
            let head = try XCTUnwrap(try journal.safHead())
            XCTAssertEqual(head.nextAttemptAt.timeIntervalSince(now), expected, accuracy: 0.01)
            XCTAssertEqual(head.attempts, 0, "a try-later answer does not count toward quarantine")
            // Just before the retry time nothing goes out.
            let before = await simulator.received.count
            _ = await s.deliverQueue(now: head.nextAttemptAt.addingTimeInterval(-1))
            let after = await simulator.received.count
            XCTAssertEqual(before, after)
            now = head.nextAttemptAt
        }
        await simulator.setRule { _ in nil }
        let n = await s.deliverQueue(now: now)
        XCTAssertEqual(n, 1)
        let advices = await simulator.received.filter { $0.mtiClass == "2" }
        XCTAssertEqual(advices.map(\.mti), ["0220", "0221", "0221", "0221", "0221"], "after the first try only repeats")
    }

    func testConfigurationFileKeysAndDefaults() throws {
        let minimal = #"{"host":"acq.example","port":7000,"caFile":"/etc/tapd/ca.pem","clientCertificateFile":"/etc/tapd/c.pem","clientKeyFile":"/etc/tapd/k.pem","terminalID":"TAPD0001","merchantID":"TAPD00000000001"}"#
        let c = try JSONDecoder().decode(AcquirerConfiguration.self, from: Data(minimal.utf8))
        XCTAssertEqual(c.profile, "iso87-ascii"); XCTAssertEqual(c.responseTimeout, 30); XCTAssertEqual(c.safRetryResponseCodes, ["91", "96"])
        XCTAssertTrue(c.persistentConnection)
        let custom = minimal.dropLast() + #","profile":"iso87-bcd","requestMTI":"0100","reversalMTI":"0420","spkiPin":"abc=","safRetryInterval":5}"#
        let d = try JSONDecoder().decode(AcquirerConfiguration.self, from: Data(custom.utf8))
        XCTAssertEqual(d.profile, "iso87-bcd"); XCTAssertEqual(d.requestMTI, "0100"); XCTAssertEqual(d.reversalMTI, "0420")
        XCTAssertEqual(d.spkiPin, "abc="); XCTAssertEqual(d.safRetryDelay(afterTries: 3), 20)
        let base = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(minimal.utf8)) as? [String: Any])
        let bad: [(String, Any)] = [("profile", "iso93"), ("requestMTI", "0300"), ("reversalMTI", "0410"), ("port", 0),
                                    ("terminalID", "T1"), ("merchantID", "M"), ("responseTimeout", -1)]
        for (key, value) in bad {
            var o = base
            o[key] = value
            let json = try JSONSerialization.data(withJSONObject: o)
            XCTAssertThrowsError(try JSONDecoder().decode(AcquirerConfiguration.self, from: json), key) { error in
                XCTAssertTrue("\(error)".contains(key == "responseTimeout" ? "timeouts" : key), "\(error)")
            }
        }
        XCTAssertThrowsError(try JSONDecoder().decode(AcquirerConfiguration.self, from: Data(#"{"host":"x"}"#.utf8)), "required keys")
    }

    func testEchoAndKeepAlive() async throws {
        var c = config()
        c.echoInterval = 0.2
        let s = try service(c)
        let ok = await s.echo()
        XCTAssertTrue(ok)
        let keepAlive = Task { await s.keepAlive() }
        try await Task.sleep(for: .milliseconds(700))
        keepAlive.cancel()
        let echoes = await simulator.received.filter { $0.mti == "0800" && $0[70] == "301" }
        XCTAssertGreaterThanOrEqual(echoes.count, 2, "echo on idle")
        // An acquirer that does not answer echoes: the echo fails and the connection is dropped.
        await simulator.setRule { m in m.mti == "0800" ? .noAnswer : nil }
        c.responseTimeout = 0.3
        let quiet = try service(c)
        let failed = await quiet.echo()
        XCTAssertFalse(failed)
        let connected = await quiet.link.isConnected
        XCTAssertFalse(connected)
    }

    func testRecoveryReversesExactlyOnce() async throws {
        // A request persisted and sent, then the process died before the answer.
        let (id, card) = try await sale(.visaCard(), amount: 1234)
        let codec = try ISO8583Codec(spec: .iso87ASCII)
        let stan = try journal.nextSTAN()
        let request = Messages.request("0200", card, terminal: config().identity, stan: stan, rrn: "633000000001")
        try journal.persistRequest(id, mti: "0200", stan: stan, rrn: "633000000001", message: try codec.pack(request))
        try journal.update(id, to: .sent)

        let s = try service(config())
        let v4 = try await s.recover()
        XCTAssertEqual(v4, 1)
        let v5 = try await s.recover()
        XCTAssertEqual(v5, 0, "a second start does not reverse again")
        let v6 = await s.deliverQueue()
        XCTAssertEqual(v6, 1)
        let reversals = await simulator.received.filter { $0.mtiClass == "4" }
        XCTAssertEqual(reversals.map { $0[11] }, [stan])
        XCTAssertEqual(try journal.transaction(id)?.state, .reversed)
    }
}
