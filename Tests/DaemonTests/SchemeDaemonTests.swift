// Every scheme tapd added after Visa and Mastercard through the whole daemon: the virtual card served to a real pcscd
// through vpcd (over the PN532 emulator and libnfc when the PC/SC lab cannot run), the kernel, the journal, and the
// acquirer simulator over mutual TLS, which verifies each scheme's cryptogram. Per scheme: approved online, declined
// by the issuer, approved offline with offline data authentication (and its advice delivered), and the negative
// cards — tampered signature, expired issuer certificate, unknown CA key — that are never approved offline.

import Foundation
import Simulators
import TestSupport
import XCTest

final class SchemeDaemonTests: XCTestCase {
    static func followUp(_ kind: String, of t: [String: Any]) -> String? {
        ((t["follow_ups"] as? [[String: Any]]) ?? []).last { $0["kind"] as? String == kind }?["status"] as? String
    }

    func testEverySchemeThroughTheReaderTheKernelAndTheAcquirer() async throws {
        let lab = try? PCSCLab.shared.get()  // nil when not root: the cards tap on the libnfc reader instead
        let h = try await DaemonHarness()
        defer { Task { await h.shutdown() } }
        try h.writeConfig(pcsc: lab != nil, offlineFloorLimit: true)
        try await h.start()
        let nfc = h.emulator.connstring
        let pcsc = "Virtual PCD 00 00"
        try await h.waitForReaders([nfc] + (lab != nil ? [pcsc] : []))

        /// One sale of `amount` tapped with the persona of that name; the sale's final view.
        func tap(_ persona: String, _ amount: Int) async throws -> [String: Any] {
            if let lab {
                let (code, started) = try await h.sale(amount, reader: pcsc)
                XCTAssertEqual(code, 201, "\(started)")
                let id = try XCTUnwrap(started["id"] as? String, "\(started)")
                _ = try await h.wait(id, for: "waiting") { $0["status"] as? String == "waiting_for_card" }
                let (vicc, _) = try lab.insert(persona)
                defer {
                    if vicc.isRunning { vicc.terminate() }
                    vicc.waitUntilExit()
                }
                return try await h.wait(id)
            }
            h.emulator.present(try VirtualCard(try XCTUnwrap(CardProfile.catalogue[persona], persona)))
            defer { h.emulator.present(nil) }
            let (_, started) = try await h.sale(amount, reader: nfc)
            return try await h.wait(try XCTUnwrap(started["id"] as? String, "\(started)"))
        }

        for scheme in ["amex", "jcb", "discover", "unionpay"] {
            // 20.00, above the floor limit: online, the simulator verifies the cryptogram and approves.
            let approved = try await tap("\(scheme)-card", 2000)
            XCTAssertEqual(approved["status"] as? String, "approved", "\(scheme): \(approved)")
            XCTAssertEqual(approved["response_code"] as? String, "00", "\(scheme)")
            XCTAssertEqual(approved["scheme"] as? String, scheme)
            XCTAssertNil(Self.followUp("advice", of: approved), "\(scheme): an online approval has no advice")
            // 12.51: the simulator's issuer declines (insufficient funds).
            let declined = try await tap("\(scheme)-card", 1251)
            XCTAssertEqual(declined["status"] as? String, "declined", "\(scheme): \(declined)")
            XCTAssertEqual(declined["response_code"] as? String, "51", "\(scheme)")
            // 5.00 on an offline-capable card: approved offline with ODA, its advice delivered by store-and-forward.
            let offline = try await tap("\(scheme)-offline", 500)
            XCTAssertEqual(offline["status"] as? String, "approved", "\(scheme): \(offline)")
            let advised = try await h.wait(try XCTUnwrap(offline["id"] as? String), for: "advice delivered") {
                Self.followUp("advice", of: $0) == "delivered"
            }
            XCTAssertEqual(Self.followUp("advice", of: advised), "delivered", "\(scheme)")
            // The negatives: never approved offline. A card whose ODA failed may still be sent online when it asks
            // for it (UnionPay's CTQ "go online if ODA fails"); then the issuer decided, and there is no advice.
            for negative in ["tampered", "expired-cert", "unknown-ca"] {
                let t = try await tap("\(scheme)-\(negative)", 500)
                XCTAssertNil(Self.followUp("advice", of: t), "\(scheme)-\(negative) was approved offline: \(t)")
                if t["status"] as? String == "approved" {
                    XCTAssertEqual(t["response_code"] as? String, "00", "\(scheme)-\(negative): \(t)")
                }
            }
        }
        // China's national algorithms: SM4 cryptogram online, SM2 fDDA offline.
        let sm = try await tap("unionpay-sm-card", 2000)
        XCTAssertEqual(sm["status"] as? String, "approved", "\(sm)")
        XCTAssertEqual(sm["response_code"] as? String, "00")
        let smOffline = try await tap("unionpay-sm-offline", 500)
        XCTAssertEqual(smOffline["status"] as? String, "approved", "\(smOffline)")
        XCTAssertFalse(
            CardProfile.catalogue.values.contains { h.logText().contains($0.pan) }, "no full PAN in the daemon's log")
    }
}
