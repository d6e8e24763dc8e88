// End to end through the API of the real daemon binary: sales over libnfc (PN532 emulator) and PC/SC (real pcscd +
// vpcd, as root), declines, cancel, idempotent retries, a sale nobody taps, an acquirer that does not answer
// (reversal), void, SIGKILL in the middle of an online request and a restart, bad requests, and many clients at once.

import ControlAPI
import Foundation
import Journal
import Simulators
import TapdCore
import TestSupport
import XCTest

final class DaemonTests: XCTestCase {
    /// No full PAN of any virtual card may appear in what the API says.
    func assertNoPAN(_ body: [String: Any], file: StaticString = #filePath, line: UInt = #line) {
        let text = String(decoding: (try? JSONSerialization.data(withJSONObject: body)) ?? Data(), as: UTF8.self)
        let pans = [
            CardProfile.visaCard().pan, CardProfile.mastercardCard().pan, CardProfile.visaPhone().pan,
            CardProfile.mastercardPhone().pan,
        ]
        XCTAssertFalse(pans.contains { text.contains($0) }, "a full PAN in the API's answer", file: file, line: line)
    }

    func testSalesOverLibnfcAndPCSCThroughTheAPI() async throws {
        let lab = try? PCSCLab.shared.get()  // nil when not root: the PC/SC part is skipped
        let h = try await DaemonHarness()
        defer { Task { await h.shutdown() } }
        try h.writeConfig(pcsc: lab != nil)
        try await h.start()
        let nfc = h.emulator.connstring
        try await h.waitForReaders([nfc] + (lab != nil ? ["Virtual PCD 00 00"] : []))

        // Events are streamed for the whole test.
        final class Collected: @unchecked Sendable {
            let lock = NSLock()
            var events: [(String, [String: Any])] = []
        }
        let collected = Collected()
        let stream = Task {
            // replay: 1 hands over the latest event (a reader attaching) at once: the stream is known to be
            // subscribed before the first sale starts.
            try? await h.client.events(replay: 1) { type, data in
                let e = (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
                collected.lock.withLock { collected.events.append((type, e)) }
                return true
            }
        }
        defer { stream.cancel() }
        for _ in 0..<500 where collected.lock.withLock({ collected.events.isEmpty }) {
            try await Task.sleep(for: .milliseconds(10))
        }
        XCTAssertFalse(collected.lock.withLock { collected.events.isEmpty }, "the event stream did not start")

        // 1. Approved over libnfc.
        h.emulator.present(try VirtualCard(.visaCard()))
        let key = UUID().uuidString
        let (code, created) = try await h.sale(1234, reader: nfc, key: key)
        XCTAssertEqual(code, 201, "\(created) \(h.logText().suffix(3000))")
        let id = try XCTUnwrap(created["id"] as? String, "\(created)")
        let approved = try await h.wait(id)
        XCTAssertEqual(approved["status"] as? String, "approved", "\(approved)")
        XCTAssertEqual(approved["response_code"] as? String, "00")
        XCTAssertEqual(approved["journal_state"] as? String, "approved")
        XCTAssertEqual(approved["scheme"] as? String, "visa")
        XCTAssertEqual(approved["masked_pan"] as? String, "476173******0119")
        assertNoPAN(approved)
        h.emulator.present(nil)

        // 2. The same idempotency key again: the same sale, not a second one; with another amount: refused.
        let (again, same) = try await h.sale(1234, reader: nfc, key: key)
        XCTAssertEqual(again, 200)
        XCTAssertEqual(same["id"] as? String, id)
        let (conflict, _) = try await h.sale(999, reader: nfc, key: key)
        XCTAssertEqual(conflict, 409)

        // 3. Declined by the issuer (the simulator declines amounts ending in .51).
        h.emulator.present(try VirtualCard(.mastercardCard()))
        let (_, d) = try await h.sale(1251, reader: nfc)
        let declined = try await h.wait(try XCTUnwrap(d["id"] as? String))
        XCTAssertEqual(declined["status"] as? String, "declined")
        XCTAssertEqual(declined["response_code"] as? String, "51")
        h.emulator.present(nil)

        // 4. Cancel while waiting for a card.
        let (_, c) = try await h.sale(500, reader: nfc)
        let cid = try XCTUnwrap(c["id"] as? String)
        _ = try await h.wait(cid, for: "waiting") { $0["status"] as? String == "waiting_for_card" }
        let cancelled = try await h.client.post("/v1/transactions/\(cid)/cancel")
        XCTAssertEqual(cancelled.status, 200)
        XCTAssertEqual((cancelled.json as? [String: Any])?["status"] as? String, "cancelled")
        let r1 = try await h.client.post("/v1/transactions/\(cid)/cancel")
        XCTAssertEqual(r1.status, 200, "cancelling twice is harmless")

        // 5. No answer from the acquirer: failed, and the request is reversed by store-and-forward.
        h.emulator.present(try VirtualCard(.visaCard()))
        let (_, n) = try await h.sale(1291, reader: nfc)
        let nid = try XCTUnwrap(n["id"] as? String)
        let failed = try await h.wait(nid)
        XCTAssertEqual(failed["status"] as? String, "failed", "\(failed)")
        let reversed = try await h.wait(nid, for: "reversed") { Self.followUp("reversal", of: $0) == "delivered" }
        XCTAssertEqual(reversed["status"] as? String, "failed")
        XCTAssertEqual(reversed["journal_state"] as? String, "unanswered")
        let r2 = try await h.client.post("/v1/transactions/\(nid)/cancel")
        XCTAssertEqual(r2.status, 409, "too late to cancel")
        h.emulator.present(nil)

        // 6. Void the first sale: a reversal with its approval code.
        let voided = try await h.client.post("/v1/transactions/\(id)/void")
        XCTAssertEqual(voided.status, 200, voided.errorMessage ?? "")
        let v = try await h.wait(id, for: "void delivered") { $0["journal_state"] as? String == "voided" }
        XCTAssertEqual(v["status"] as? String, "voided")
        XCTAssertEqual(Self.followUp("reversal", of: v), "delivered")
        let declinedVoid = try await h.client.post("/v1/transactions/\(did(declined))/void")
        XCTAssertEqual(declinedVoid.status, 409, "a declined sale cannot be voided")

        // 7. PC/SC: the card arrives after the sale starts.
        if let lab {
            let (_, p) = try await h.sale(2000, reader: "Virtual PCD 00 00")
            let pid = try XCTUnwrap(p["id"] as? String)
            _ = try await h.wait(pid, for: "waiting") { $0["status"] as? String == "waiting_for_card" }
            let (vicc, _) = try lab.insert("mastercard-card")
            defer {
                if vicc.isRunning { vicc.terminate() }
                vicc.waitUntilExit()
            }
            let pcsc = try await h.wait(pid)
            XCTAssertEqual(pcsc["status"] as? String, "approved", "\(pcsc)")
            XCTAssertEqual(pcsc["reader"] as? String, "Virtual PCD 00 00")
            XCTAssertEqual(pcsc["scheme"] as? String, "mastercard")
            assertNoPAN(pcsc)
            vicc.terminate()
        }

        // The event stream saw the sale go by, with the Book A messages.
        try await Task.sleep(for: .milliseconds(200))
        let seen = collected.lock.withLock { collected.events }
        let statuses = seen.filter { $0.0 == "transaction" && $0.1["transaction_id"] as? String == id }.compactMap {
            $0.1["status"] as? String
        }
        XCTAssertEqual(Array(statuses.prefix(1)), ["waiting_for_card"])
        XCTAssertTrue(statuses.contains("approved"))
        XCTAssertTrue(statuses.contains("voided"))
        XCTAssertTrue(seen.contains { $0.0 == "ui" && $0.1["message"] as? String == "Present card" })

        // Status, history, metrics.
        let r3 = try await h.client.get("/v1/status")
        let status = try XCTUnwrap(r3.json as? [String: Any])
        XCTAssertEqual((status["acquirer"] as? [String: Any])?["configured"] as? Bool, true)
        XCTAssertEqual(status["saf_depth"] as? Int, 0)
        let r4 = try await h.client.get("/v1/transactions?limit=3")
        let history = try XCTUnwrap(r4.json as? [[String: Any]])
        XCTAssertEqual(history.count, 3)
        let r5 = try await h.client.get("/v1/transactions?limit=3&after=\(history[2]["id"] as! String)")
        let next = try XCTUnwrap(r5.json as? [[String: Any]])
        XCTAssertFalse(
            next.contains { n in history.contains { $0["id"] as? String == n["id"] as? String } },
            "pages do not overlap")
        let metrics = String(decoding: (try await h.client.get("/metrics")).body, as: UTF8.self)
        XCTAssertTrue(metrics.contains("tapd_transactions_total{status=\"approved\",scheme=\"visa\"}"), metrics)
        XCTAssertTrue(metrics.contains("tapd_tap_to_outcome_seconds_bucket"))
        XCTAssertFalse(h.logText().contains(CardProfile.visaCard().pan), "no full PAN in the daemon's log")
    }

    func did(_ t: [String: Any]) -> String { t["id"] as? String ?? "" }

    /// The status of a sale's follow-up of `kind` (reversal, advice, capture), as the API lists it.
    static func followUp(_ kind: String, of t: [String: Any]) -> String? {
        ((t["follow_ups"] as? [[String: Any]]) ?? []).last { $0["kind"] as? String == kind }?["status"] as? String
    }

    /// A running daemon on the libnfc PN532 only (no PC/SC), its reader attached; shut down after the test.
    func daemon(cardTimeout: Double = 8, responseTimeout: Double = 3) async throws -> DaemonHarness {
        let h = try await DaemonHarness()
        addTeardownBlock { await h.shutdown() }
        try h.writeConfig(pcsc: false, cardTimeout: cardTimeout, responseTimeout: responseTimeout)
        try await h.start()
        try await h.waitForReaders([h.emulator.connstring])
        return h
    }

    func testSaleNobodyTapsTimesOut() async throws {
        let h = try await daemon(cardTimeout: 1)
        let (code, t) = try await h.sale(700)
        XCTAssertEqual(code, 201)
        let timedOut = try await h.wait(did(t))
        XCTAssertEqual(timedOut["status"] as? String, "timed_out", "\(timedOut)")
        XCTAssertEqual(timedOut["journal_state"] as? String, "timed_out")
    }

    /// Issue rule: an idempotent retry of a sale still in flight gets its current, non-final state — never a final
    /// "failed" while the first request goes on to charge the card. And the queue is visible to a technician.
    func testARetryWhileTheSaleIsOnlineSeesItRunningAndTheQueueIsVisible() async throws {
        let h = try await daemon(responseTimeout: 6)
        // No core dumps of the daemon (a dump of a sale would hold card data).
        let limits = try String(
            contentsOfFile: "/proc/\(try XCTUnwrap(h.process).processIdentifier)/limits", encoding: .utf8)
        let core = limits.split(separator: "\n").first { $0.hasPrefix("Max core file size") }?.split(separator: " ")
            .map(String.init)
        XCTAssertEqual(core?.dropFirst(4).prefix(2), ["0", "0"], limits)
        h.emulator.present(try VirtualCard(.visaCard()))
        let key = UUID().uuidString
        let (_, t) = try await h.sale(1293, key: key)  // .93: the acquirer answers after 3 s
        let id = did(t)
        _ = try await h.wait(id, for: "online") { $0["status"] as? String == "online" }
        let (code, again) = try await h.sale(1293, key: key)
        XCTAssertEqual(code, 200)
        XCTAssertEqual(again["id"] as? String, id)
        XCTAssertEqual(again["status"] as? String, "online", "\(again)")
        XCTAssertEqual(again["final"] as? Bool, false)
        let done = try await h.wait(id)
        XCTAssertEqual(done["status"] as? String, "approved")
        h.emulator.present(nil)
        // A sale without an answer: its reversal is listed by `tapctl saf list`.
        h.emulator.present(try VirtualCard(.visaCard()))
        let (_, n) = try await h.sale(1291)
        _ = try await h.wait(did(n), for: "reversed") { Self.followUp("reversal", of: $0) == "delivered" }
        h.emulator.present(nil)
        let tapctl = Tool.buildDirectory + "/tapctl"
        let (rc, text) = try Tool.run(tapctl, ["saf", "list", "--socket", h.socket])
        XCTAssertEqual(rc, 0, text)
        XCTAssertTrue(text.contains("reversal 0400") && text.contains("delivered"), text)
        let (none, noneText) = try Tool.run(tapctl, ["saf", "list", "--status", "quarantined", "--socket", h.socket])
        XCTAssertEqual(none, 0, noneText)
        XCTAssertTrue(noneText.contains("no store-and-forward entries"), noneText)
        let (missing, missingText) = try Tool.run(
            tapctl, ["saf", "resolve", "99999", "--reason", "help desk ticket 1", "--socket", h.socket])
        XCTAssertEqual(missing, 2, missingText)
        XCTAssertTrue(missingText.contains("no open follow-up #99999"), missingText)
        let received = await h.simulator.received.map(\.mti)
        XCTAssertEqual(received.filter { $0 == "0200" }.count, 2, "the retry sent nothing: \(received)")
        // A backup while tapd runs, verified; a rekey is refused while tapd runs.
        let config = h.directory + "/tapd.toml"
        let backup = h.directory + "/backup.sqlite"
        let (bc, btext) = try Tool.run(tapctl, ["journal", "backup", backup, "--config", config])
        XCTAssertEqual(bc, 0, btext)
        XCTAssertTrue(
            btext.contains("backup.sqlite: OK") && btext.contains("approved 1") && btext.contains("unanswered 1"), btext
        )
        let (vc, vtext) = try Tool.run(tapctl, ["journal", "verify", backup, "--config", config])
        XCTAssertEqual(vc, 0, vtext)
        let newKey = h.directory + "/new.key"
        FileManager.default.createFile(
            atPath: newKey, contents: Data(repeating: 9, count: 32), attributes: [.posixPermissions: 0o600])
        let (rc2, rtext) = try Tool.run(tapctl, ["journal", "rekey", "--new-key", newKey, "--config", config])
        XCTAssertEqual(rc2, 2, rtext)
        XCTAssertTrue(rtext.contains("tapd is running"), rtext)
    }

    func testKilledWhileOnlineThenRestarted() async throws {
        // The acquirer never answers (.91) and the daemon is killed while it waits: on restart the journal says the
        // request may have gone out, so a reversal is queued and delivered, and the API tells the final state.
        let h = try await daemon(responseTimeout: 30)
        h.emulator.present(try VirtualCard(.visaCard()))
        let (_, t) = try await h.sale(4291)
        let id = did(t)
        _ = try await h.wait(id, for: "online") { $0["status"] as? String == "online" }
        try await Task.sleep(for: .milliseconds(200))
        h.kill9()
        h.emulator.present(nil)
        try await h.start()
        let settled = try await h.wait(id, for: "reversed") { Self.followUp("reversal", of: $0) == "delivered" }
        XCTAssertEqual(settled["status"] as? String, "failed", "\(settled)")
        XCTAssertTrue((settled["reason"] as? String ?? "").contains("revers"), "\(settled)")
        let received = await h.simulator.received.map(\.mti)
        XCTAssertEqual(received.filter { $0 == "0200" }.count, 1)
        XCTAssertEqual(received.filter { $0 == "0400" }.count, 1, "exactly one reversal: \(received)")
    }

    func testBadRequestsGetClearErrors() async throws {
        let h = try await daemon()
        let c = h.client
        let notJSON = try await c.request("POST", "/v1/transactions", body: Data("{amount: 1".utf8))
        XCTAssertEqual(notJSON.status, 422)
        XCTAssertEqual(notJSON.errorMessage, "the body is not valid JSON")
        let noKey = try await c.post("/v1/transactions", json: ["amount": 100])
        XCTAssertEqual(noKey.status, 422)
        XCTAssertEqual(noKey.errorMessage, "idempotency_key is required")
        let badAmount = try await c.post("/v1/transactions", json: ["amount": -5, "idempotency_key": "x1"])
        XCTAssertEqual(badAmount.status, 422)
        XCTAssertTrue(badAmount.errorMessage?.contains("amount") == true)
        let stringAmount = try await c.post("/v1/transactions", json: ["amount": "12.34", "idempotency_key": "x2"])
        XCTAssertEqual(stringAmount.status, 422)
        XCTAssertEqual(stringAmount.errorMessage, "amount: wrong type")
        let currency = try await c.post(
            "/v1/transactions", json: ["amount": 100, "currency": "USD", "idempotency_key": "x3"])
        XCTAssertEqual(currency.status, 409, "a currency the terminal is not configured for")
        XCTAssertTrue(currency.errorMessage?.contains("EUR") == true, currency.errorMessage ?? "")
        let notACurrency = try await c.post(
            "/v1/transactions", json: ["amount": 100, "currency": "EURO", "idempotency_key": "x3b"])
        XCTAssertEqual(notACurrency.status, 422)
        let unknownReader = try await c.post(
            "/v1/transactions", json: ["amount": 100, "reader": "nope", "idempotency_key": "x4"])
        XCTAssertEqual(unknownReader.status, 404)
        let unknownField = try await c.post(
            "/v1/transactions", json: ["amount": 100, "idempotency_key": "x5", "tip": 5])
        XCTAssertEqual(unknownField.status, 422)
        XCTAssertEqual(unknownField.errorMessage, "tip is not a field of this request")
        let null = try await c.post(
            "/v1/transactions", json: ["amount": 100, "idempotency_key": "x6", "reader": NSNull()])
        XCTAssertEqual(null.status, 422)
        let big = try await c.request("POST", "/v1/transactions", body: Data(repeating: 0x20, count: 20_000))
        XCTAssertEqual(big.status, 413, big.errorMessage ?? "")
        let r6 = try await c.get("/v1/transactions/no-such-id")
        XCTAssertEqual(r6.status, 404)
        let r7 = try await c.post("/v1/transactions/no-such-id/void")
        XCTAssertEqual(r7.status, 404)
        let r8 = try await c.get("/v1/nothing-here")
        XCTAssertEqual(r8.status, 404)
        XCTAssertEqual(
            (r8.json as? [String: Any]).flatMap { $0["error"] as? [String: Any] }?["code"] as? String, "not_found")
        let wrongMethod = try await c.request("DELETE", "/v1/transactions")
        XCTAssertEqual(wrongMethod.status, 405)
        XCTAssertEqual(wrongMethod.errorMessage, "allowed here: GET, HEAD, POST")
        let wrongMethod2 = try await c.get("/v1/transactions/no-such-id/cancel")
        XCTAssertEqual(wrongMethod2.status, 405)
        let slash = try await c.get("/v1/health/")
        XCTAssertEqual(slash.status, 200)
        let r9 = try await c.get("/v1/transactions?limit=0")
        XCTAssertEqual(r9.status, 400)
        let emptyAfter = try await c.get("/v1/transactions?limit=1&after=")
        XCTAssertEqual(emptyAfter.status, 422, "an empty after= names no transaction (the document says minLength 1)")
        // Broken percent-encoding in the query or the path is taken as it stands, never a crash.
        let badEscape = try await c.get("/v1/transactions?limit=%ZZ&&=&after")
        XCTAssertEqual(badEscape.status, 400)
        let badPath = try await c.get("/v1/transactions/%E0%A4%A")
        XCTAssertEqual(badPath.status, 404)
        // A client that connects and says nothing does not hold anything up.
        let idle = RawUnixSocket(h.socket)
        let r10 = try await c.get("/v1/health")
        XCTAssertEqual(r10.status, 200)
        withExtendedLifetime(idle) {}
        // Every answer carries Date (RFC 9110 §6.6.1, IMF-fixdate, now) and Server.
        let raw = RawUnixSocket(h.socket)
        let ask = "GET /v1/health HTTP/1.1\r\nHost: tapd\r\nConnection: close\r\n\r\n"
        XCTAssertEqual(raw.send(ask), ask.utf8.count)
        let head = raw.readToClose().components(separatedBy: "\r\n\r\n")[0].components(separatedBy: "\r\n")
        XCTAssertEqual(head.first, "HTTP/1.1 200 OK")
        XCTAssertTrue(head.contains { $0.lowercased() == "server: tapd" }, "\(head)")
        let dateLine = try XCTUnwrap(head.first { $0.lowercased().hasPrefix("date: ") }, "\(head)")
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let date = try XCTUnwrap(f.date(from: String(dateLine.dropFirst(6))), dateLine)
        XCTAssertLessThan(abs(date.timeIntervalSinceNow), 5, dateLine)
    }

    /// HTTP/1.1 framing on the raw socket: pipelining, HTTP/1.0, a malformed request, `Expect: 100-continue`, and a
    /// body that never ends.
    func testHTTPFramingOnTheRawSocket() async throws {
        let h = try await daemon()
        // Two pipelined requests: two answers in order, then the close the second asked for.
        let p = RawUnixSocket(h.socket)
        p.send(
            "GET /v1/health HTTP/1.1\r\nHost: tapd\r\n\r\nGET /v1/nothing HTTP/1.1\r\nHost: tapd\r\nConnection: close\r\n\r\n"
        )
        let both = p.readToClose()
        XCTAssertTrue(both.hasPrefix("HTTP/1.1 200 OK"), both)
        XCTAssertTrue(both.contains("HTTP/1.1 404 Not Found"), both)
        // HEAD: GET's head, Content-Length included, and no body (RFC 9110 §9.3.2); the connection stays usable.
        let head = RawUnixSocket(h.socket)
        head.send(
            "HEAD /v1/health HTTP/1.1\r\nHost: tapd\r\n\r\nGET /v1/health HTTP/1.1\r\nHost: tapd\r\nConnection: close\r\n\r\n"
        )
        let heads = head.readToClose().components(separatedBy: "HTTP/1.1 200 OK")
        XCTAssertEqual(heads.count, 3, "\(heads)")
        XCTAssertTrue(heads[1].lowercased().contains("content-length: 15"), heads[1])
        XCTAssertFalse(heads[1].contains("status"), "HEAD carried a body: \(heads[1])")
        XCTAssertTrue(heads[2].hasSuffix("{\"status\":\"ok\"}"), heads[2])
        // HTTP/1.0 without keep-alive: answered in 1.0 and closed.
        let old = RawUnixSocket(h.socket)
        old.send("GET /v1/health HTTP/1.0\r\n\r\n")
        let oldAnswer = old.readToClose()
        XCTAssertTrue(oldAnswer.hasPrefix("HTTP/1.0 200 OK"), oldAnswer)
        XCTAssertTrue(oldAnswer.hasSuffix("{\"status\":\"ok\"}"), oldAnswer)
        // An event stream to an HTTP/1.0 client is delimited by the connection's end, not chunked.
        let oldStream = RawUnixSocket(h.socket)
        oldStream.send("GET /v1/events HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        let streamHead = oldStream.readSome().lowercased()
        XCTAssertTrue(streamHead.hasPrefix("http/1.0 200 ok"), streamHead)
        XCTAssertTrue(streamHead.contains("connection: close"), streamHead)
        XCTAssertFalse(streamHead.contains("transfer-encoding"), streamHead)
        // Not HTTP: 400 and the connection closed.
        let junk = RawUnixSocket(h.socket)
        junk.send("\u{01}\u{02} NOT HTTP AT ALL\r\n\r\n")
        XCTAssertTrue(junk.readToClose().hasPrefix("HTTP/1.1 400"))
        // Expect: 100-continue gets its interim answer before the body is sent.
        let cont = RawUnixSocket(h.socket)
        cont.send(
            "POST /v1/transactions HTTP/1.1\r\nHost: tapd\r\nContent-Type: application/json\r\nContent-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
        )
        XCTAssertTrue(cont.readSome().hasPrefix("HTTP/1.1 100 Continue"))
        cont.send("{}")
        let contAnswer = cont.readToClose()
        XCTAssertTrue(contAnswer.contains("HTTP/1.1 422"), contAnswer)
        XCTAssertTrue(contAnswer.contains("\"code\":\"invalid_request\""), contAnswer)
        // A body that announces 50 MB: 413 once more than the limit plus 1 MiB has come, and the connection is closed.
        let flood = RawUnixSocket(h.socket)
        flood.send("POST /v1/transactions HTTP/1.1\r\nHost: tapd\r\nContent-Length: 50000000\r\n\r\n")
        let block = String(repeating: " ", count: 65536)
        for _ in 0..<40 where flood.send(block) > 0 {}
        XCTAssertTrue(flood.readToClose().hasPrefix("HTTP/1.1 413"))
        // And the daemon still answers.
        let health = try await h.client.get("/v1/health")
        XCTAssertEqual(health.status, 200)
    }

    func testManyClientsAtOnceDuringSales() async throws {
        let h = try await daemon()
        final class Failures: @unchecked Sendable {
            let lock = NSLock()
            var list: [String] = []
            var streamed = 0
        }
        let failures = Failures()
        // 20 clients stream events (one never reads fast: it sleeps in its handler), 180 poll the status.
        var streams: [Task<Void, Never>] = []
        for i in 0..<20 {
            streams.append(
                Task {
                    do {
                        try await h.client.events { _, _ in
                            failures.lock.withLock { failures.streamed += 1 }
                            if i == 0 { Thread.sleep(forTimeInterval: 0.5) }
                            return true
                        }
                    } catch { failures.lock.withLock { failures.list.append("events: \(error)") } }
                })
        }
        let pollers = Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<180 {
                    group.addTask {
                        for _ in 0..<5 {
                            do {
                                let r = try await h.client.get("/v1/status")
                                if r.status != 200 {
                                    failures.lock.withLock { failures.list.append("status HTTP \(r.status)") }
                                }
                            } catch { failures.lock.withLock { failures.list.append("status: \(error)") } }
                        }
                    }
                }
            }
        }
        for n in 0..<4 {
            h.emulator.present(try VirtualCard(n % 2 == 0 ? .visaCard() : .mastercardCard()))
            let (code, t) = try await h.sale(1000 + n)
            XCTAssertEqual(code, 201)
            let done = try await h.wait(did(t), seconds: 30)
            XCTAssertEqual(done["status"] as? String, "approved", "\(done)")
            h.emulator.present(nil)
        }
        await pollers.value
        for s in streams { s.cancel() }
        let problems = failures.lock.withLock { failures.list }
        XCTAssertTrue(problems.isEmpty, "\(problems.count) client errors, first: \(problems.first ?? "")")
        XCTAssertGreaterThan(failures.lock.withLock { failures.streamed }, 20)
    }

    func testAnswersMatchTheOpenAPIDocument() async throws {
        let h = try await daemon()
        let spec = try await h.client.get("/v1/openapi.json")
        XCTAssertEqual(spec.status, 200)
        let v = try OpenAPIValidator(spec.body)
        XCTAssertEqual(
            v.paths,
            [
                "/metrics", "/v1/batches", "/v1/events", "/v1/health", "/v1/openapi.json", "/v1/preauthorisations",
                "/v1/readers", "/v1/reports", "/v1/risk", "/v1/risk/exception-file", "/v1/risk/freeze",
                "/v1/risk/freeze/{id}", "/v1/saf", "/v1/saf/{id}/resolve", "/v1/saf/{id}/retry", "/v1/status",
                "/v1/transactions", "/v1/transactions/{id}", "/v1/transactions/{id}/cancel",
                "/v1/transactions/{id}/complete", "/v1/transactions/{id}/receipt", "/v1/transactions/{id}/void",
            ])
        func check(_ r: APIResponse, _ schema: [String: Any], _ what: String) {
            guard let json = r.json else { return XCTFail("\(what): not JSON") }
            let problems = v.validate(json, against: schema)
            XCTAssertTrue(problems.isEmpty, "\(what): \(problems)")
        }
        let ref = { (name: String) -> [String: Any] in ["$ref": "#/components/schemas/\(name)"] }
        // The validator itself is strict: wrong types, missing and undocumented properties are all found.
        XCTAssertEqual(v.validate(["id": 1, "bogus": true], against: ref("Transaction")).count, 11)
        let list = { (name: String) -> [String: Any] in
            ["type": "array", "items": ["$ref": "#/components/schemas/\(name)"]]
        }
        check(try await h.client.get("/v1/health"), ref("Health"), "health")
        check(try await h.client.get("/v1/status"), ref("Status"), "status")
        check(try await h.client.get("/v1/readers"), list("Reader"), "readers")

        final class Seen: @unchecked Sendable {
            let lock = NSLock()
            var data: [Data] = []
        }
        let seen = Seen()
        let stream = Task {
            try? await h.client.events { _, d in
                seen.lock.withLock { seen.data.append(d) }
                return true
            }
        }
        defer { stream.cancel() }
        try await Task.sleep(for: .milliseconds(100))
        h.emulator.present(try VirtualCard(.mastercardPhone()))
        let post = try await h.client.post("/v1/transactions", json: ["amount": 4200, "idempotency_key": "spec-1"])
        XCTAssertEqual(post.status, 201)
        check(post, ref("Transaction"), "POST /v1/transactions")
        let id = try XCTUnwrap((post.json as? [String: Any])?["id"] as? String)
        _ = try await h.wait(id)
        check(try await h.client.get("/v1/transactions/\(id)"), ref("Transaction"), "GET /v1/transactions/{id}")
        check(try await h.client.get("/v1/transactions"), list("Transaction"), "GET /v1/transactions")
        check(try await h.client.get("/v1/status"), ref("Status"), "status with a last sale")
        check(try await h.client.post("/v1/transactions/\(id)/cancel"), ref("Error"), "409")
        check(try await h.client.get("/v1/transactions/none"), ref("Error"), "404")
        check(try await h.client.post("/v1/transactions", json: ["amount": 1]), ref("Error"), "422")
        let voided = try await h.client.post("/v1/transactions/\(id)/void")
        check(voided, ref("Transaction"), "void")
        check(try await h.client.get("/v1/saf"), list("FollowUp"), "GET /v1/saf")
        check(try await h.client.get("/v1/saf?status=delivered"), list("FollowUp"), "GET /v1/saf?status=delivered")
        check(try await h.client.post("/v1/saf/424242/retry"), ref("Error"), "retry 404")
        check(
            try await h.client.post("/v1/saf/424242/resolve", json: ["reason": "help desk ticket 1"]), ref("Error"),
            "resolve 404")
        check(try await h.client.get("/v1/saf?status=lost"), ref("Error"), "saf 422")
        check(try await h.client.get("/v1/risk"), ref("RiskStatus"), "GET /v1/risk")
        let freeze = try await h.client.post(
            "/v1/risk/freeze", json: ["scope": "aid", "value": "A0000000031010", "reason": "spec"])
        check(freeze, ref("Freeze"), "POST /v1/risk/freeze")
        let freezeID = (freeze.json as? [String: Any])?["id"] as? Int ?? 0
        check(try await h.client.request("DELETE", "/v1/risk/freeze/\(freezeID)"), ref("Freeze"), "DELETE freeze")
        check(try await h.client.request("DELETE", "/v1/risk/freeze/999999"), ref("Error"), "DELETE freeze 404")
        check(
            try await h.client.post("/v1/risk/freeze", json: ["scope": "aid", "reason": "spec"]), ref("Error"),
            "freeze 422")
        let salt = String(repeating: "ab", count: 16)
        check(
            try await h.client.request("PUT", "/v1/risk/exception-file", body: Data("salt \(salt)\n".utf8)),
            ref("ExceptionFile"), "PUT exception file")
        check(try await h.client.get("/v1/risk"), ref("RiskStatus"), "GET /v1/risk with alerts")
        try await Task.sleep(for: .milliseconds(200))
        let events = seen.lock.withLock { seen.data }
        XCTAssertGreaterThan(events.count, 4)
        for e in events {
            guard let json = try? JSONSerialization.jsonObject(with: e) else {
                XCTFail("event not JSON")
                continue
            }
            let problems = v.validate(json, against: ref("Event"))
            XCTAssertTrue(problems.isEmpty, "event: \(problems)")
        }
        h.emulator.present(nil)
    }

    /// tapctl against the running daemon: a sale followed live, status and history as JSON, errors with exit codes.
    func testTapctlDrivesTheDaemon() async throws {
        let h = try await daemon()
        func tapctl(_ args: [String]) throws -> (Int32, String) {
            try Tool.run(Tool.buildDirectory + "/tapctl", args + ["--socket", h.socket])
        }
        h.emulator.present(try VirtualCard(.mastercardPhone()))
        let (code, text) = try tapctl(["sale", "90.00", "--wait"])
        XCTAssertEqual(code, 0, text)
        XCTAssertTrue(text.contains("[Present card]"), text)
        XCTAssertTrue(text.contains("approved"), text)
        XCTAssertTrue(text.contains("card 520474******1234, mastercard, CVM on_device_cvm"), text)
        XCTAssertFalse(text.contains(CardProfile.mastercardPhone().pan))
        h.emulator.present(nil)
        let (s, statusJSON) = try tapctl(["status", "--json"])
        XCTAssertEqual(s, 0)
        let status = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(statusJSON.utf8)) as? [String: Any])
        XCTAssertEqual((status["last_transaction"] as? [String: Any])?["amount"] as? Int, 9000)
        let (hc, history) = try tapctl(["history", "--limit", "5"])
        XCTAssertEqual(hc, 0)
        XCTAssertTrue(history.contains("90.00 EUR  approved"), history)
        let (bad, badText) = try tapctl(["sale", "12.345"])
        XCTAssertNotEqual(bad, 0)
        XCTAssertTrue(badText.contains("at most 2 decimal(s) for EUR"), badText)
        let (missing, missingText) = try tapctl(["show", "nope"])
        XCTAssertEqual(missing, 2)
        XCTAssertTrue(missingText.contains("no transaction nope"), missingText)
        // The socket may also come before the subcommand (the demo prints it that way).
        let (front, frontText) = try Tool.run(
            Tool.buildDirectory + "/tapctl", ["--socket", h.socket, "readers", "--json"])
        XCTAssertEqual(front, 0, frontText)
        XCTAssertTrue(frontText.contains("pn532_uart"), frontText)
        // No tapd behind the socket: a message and exit code 4, not a silent 0.
        let (down, downText) = try Tool.run(
            Tool.buildDirectory + "/tapctl", ["status", "--socket", h.directory + "/no-such.sock"])
        XCTAssertEqual(down, 4)
        XCTAssertTrue(downText.contains("cannot connect"), downText)
        // The sale is in the journal's audit log with the caller's uid and pid (SO_PEERCRED).
        h.stop()
        let journal = try Journal(path: h.journal, key: try JournalSettings.loadKey(h.directory + "/journal.key"))
        let audit = try await journal.auditLog(limit: 50)
        XCTAssertTrue(
            audit.contains { $0.event == "sale started" && $0.actor.hasPrefix("api uid=\(getuid()) pid=") },
            "\(audit.map(\.actor))")
    }

    /// With pcscd and the vpcd driver present, the demo's sales go through the real PC/SC stack: run it inside the
    /// test pcscd's network namespace, where vpcd listens.
    func testDemoGoesThroughPCSCWhenPcscdWithVpcdIsThere() throws {
        let lab = try PCSCLab.shared.get()
        let (status, text) = try Tool.run(
            "/usr/bin/nsenter", ["--net=/proc/\(lab.pid)/ns/net", DaemonHarness.tapdBinary, "demo"])
        XCTAssertTrue(
            text.contains(
                "Reader: Virtual PCD 00 00 — virtual cards served to this machine's pcscd through the vpcd driver"),
            text)
        XCTAssertEqual(status, 0, text)
        XCTAssertTrue(text.contains("Demo complete: every sale ended as expected."), text)
        XCTAssertTrue(
            text.contains("[See phone for instructions] see_phone") || text.contains("see_phone"),
            "the phone asked to be looked at: \(text)")
    }

    /// SIGTERM while a sale is online lets it finish (within shutdown_grace); one still waiting for a card is
    /// cancelled; after the restart both read as they ended.
    func testSIGTERMFinishesTheOnlineSaleAndCancelsTheWaitingOne() async throws {
        let h = try await daemon(responseTimeout: 10)
        h.emulator.present(try VirtualCard(.visaCard()))
        let (_, t) = try await h.sale(2093)  // .93: the simulator answers after 3 s
        let id = did(t)
        _ = try await h.wait(id, for: "online") { $0["status"] as? String == "online" }
        let started = ContinuousClock.now
        h.stop()  // SIGTERM, and wait for the exit
        XCTAssertGreaterThan(ContinuousClock.now - started, .seconds(1), "tapd waited for the answer")
        try await h.start()
        let done = try await h.transaction(id)
        XCTAssertEqual(done["status"] as? String, "approved", "\(done)")
        XCTAssertEqual(done["journal_state"] as? String, "approved")
        h.emulator.present(nil)
        // A sale waiting for a card when SIGTERM comes is cancelled.
        try await h.waitForReaders([h.emulator.connstring])
        let (_, w) = try await h.sale(300)
        let wid = did(w)
        _ = try await h.wait(wid, for: "waiting") { $0["status"] as? String == "waiting_for_card" }
        h.stop()
        try await h.start()
        let cancelled = try await h.transaction(wid)
        XCTAssertEqual(cancelled["status"] as? String, "cancelled", "\(cancelled)")
    }

    /// A socket that cannot be bound ends tapd with a clear error, not a hang.
    func testUnusableSocketPathFailsClearly() async throws {
        let h = try await DaemonHarness()
        defer { Task { await h.shutdown() } }
        try h.writeConfig(pcsc: false)
        let config = try String(contentsOfFile: h.directory + "/tapd.toml", encoding: .utf8)
            .replacingOccurrences(
                of: "socket = \"\(h.socket)\"", with: "socket = \"/proc/tapd-cannot-be-here/api.sock\"")
        try config.write(toFile: h.directory + "/tapd.toml", atomically: true, encoding: .utf8)
        let (status, text) = try Tool.run(
            DaemonHarness.tapdBinary, ["run", "--config", h.directory + "/tapd.toml"], timeout: .seconds(20))
        XCTAssertEqual(status, 1, text)
        XCTAssertTrue(text.contains("cannot listen on /proc/tapd-cannot-be-here/api.sock"), text)
    }

    func testInvalidConfigurationStopsBeforeTouchingAnything() async throws {
        let h = try await DaemonHarness()
        defer { Task { await h.shutdown() } }
        try h.writeConfig(pcsc: false, extra: "echo_intervall = 5")
        let (status, text) = try Tool.run(
            DaemonHarness.tapdBinary, ["run", "--config", h.directory + "/tapd.toml"], timeout: .seconds(20))
        XCTAssertEqual(status, 78)
        let config = try String(contentsOfFile: h.directory + "/tapd.toml", encoding: .utf8)
        let line =
            try XCTUnwrap(
                config.split(separator: "\n", omittingEmptySubsequences: false).firstIndex {
                    $0.contains("echo_intervall")
                }) + 1
        XCTAssertTrue(text.contains("tapd.toml:\(line): acquirer.echo_intervall: unknown key"), text)
        XCTAssertFalse(FileManager.default.fileExists(atPath: h.journal), "nothing was created")
        XCTAssertFalse(FileManager.default.fileExists(atPath: h.socket))
    }
}
