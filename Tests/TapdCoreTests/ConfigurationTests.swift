// The configuration file: defaults, the shipped example, and one clear error (file, line, key) for each kind of
// mistake a technician makes in it.

import Foundation
import XCTest

@testable import TapdCore

final class ConfigurationTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func error(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> ConfigurationError? {
        do {
            _ = try TapdConfiguration.parse(text, file: "t.toml")
            XCTFail("accepted", file: file, line: line)
            return nil
        } catch TapdError.configuration(let e) { return e } catch {
            XCTFail("\(error)", file: file, line: line)
            return nil
        }
    }

    func testEmptyFileGivesTheDefaults() throws {
        let c = try TapdConfiguration.parse("")
        XCTAssertEqual(c.daemon, DaemonSettings())
        XCTAssertEqual(c.daemon.socket, "/run/tapd/api.sock")
        XCTAssertEqual(c.journal.resolvedKeyFile(environment: [:]), "/etc/tapd/journal.key")
        XCTAssertEqual(
            c.journal.resolvedKeyFile(environment: ["CREDENTIALS_DIRECTORY": "/run/credentials/tapd.service"]),
            "/run/credentials/tapd.service/journal.key")
        XCTAssertNil(c.acquirer)
        XCTAssertTrue(c.readers.pcsc)
    }

    func testTheShippedExampleIsValidAndHoldsTheDefaults() throws {
        let text = try String(contentsOf: Self.root.appendingPathComponent("Systemd/tapd.toml"), encoding: .utf8)
        let c = try TapdConfiguration.parse(text, file: "Systemd/tapd.toml")
        XCTAssertEqual(c.daemon, DaemonSettings())
        XCTAssertEqual(c.journal, JournalSettings())
        XCTAssertEqual(c.terminal, TerminalSettings())
        // With the acquirer table uncommented it is still valid.
        let withAcquirer = text.split(separator: "\n", omittingEmptySubsequences: false).map { l -> String in
            l.hasPrefix("# [acquirer]")
                || (l.hasPrefix("# ") && l.contains(" = ") && !l.hasPrefix("# preferred") && !l.hasPrefix("# key_file")
                    && !l.hasPrefix("# configuration =") && !l.hasPrefix("# ca_keys"))
                ? String(l.dropFirst(2)) : String(l)
        }.joined(separator: "\n")
        let a = try XCTUnwrap(try TapdConfiguration.parse(withAcquirer).acquirer)
        XCTAssertEqual(a.host, "acquirer.example.net")
        XCTAssertEqual(a.terminalID, "TERM0001")
        XCTAssertEqual(a.safRetryMaxInterval, 900)
    }

    func testEveryKeyIsDocumentedInTheREADMEAndTheExample() throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let example = try String(contentsOf: Self.root.appendingPathComponent("Systemd/tapd.toml"), encoding: .utf8)
        for (section, keys) in TapdConfiguration.keys {
            XCTAssertTrue(readme.contains("[\(section)]"), "README lacks [\(section)]")
            for k in keys {
                XCTAssertTrue(readme.contains("`\(k)`"), "README does not document \(section).\(k)")
                if section != "acquirer" { XCTAssertTrue(example.contains(k), "example lacks \(section).\(k)") }
            }
        }
    }

    func testTheRiskTableIsReadAndChecked() throws {
        let c = try TapdConfiguration.parse(
            "[risk]\nsale_amount_alert = 300\ncard_approvals_per_day = 4\nexception_file = \"/etc/tapd/x.txt\"\n")
        XCTAssertEqual(c.risk.saleAmountAlert, 300)
        XCTAssertEqual(c.risk.cardApprovalsPerDay, 4)
        XCTAssertEqual(c.risk.exceptionFile, "/etc/tapd/x.txt")
        XCTAssertEqual(error("[risk]\nterminal_sales_per_hour = 0\n")?.key, "risk.terminal_sales_per_hour")
        XCTAssertEqual(error("[risk]\nexception_file = \"x.txt\"\n")?.key, "risk.exception_file")
        // Every key of the file maps to its Swift name (a key without one would be read as absent, silently).
        for (section, list) in TapdConfiguration.keys {
            for k in list where section != "acquirer" || k != "saf_expiry" {
                XCTAssertNotNil(TapdConfiguration.camelNames[k], "\(section).\(k) has no Swift name")
            }
        }
    }

    func testSnakeCaseKeysMapToTheSwiftNames() {
        XCTAssertEqual(TapdConfiguration.snake("terminalID"), "terminal_id")
        XCTAssertEqual(TapdConfiguration.snake("requestMTI"), "request_mti")
        XCTAssertEqual(TapdConfiguration.snake("clientCertificateFile"), "client_certificate_file")
        XCTAssertEqual(TapdConfiguration.camel("acquirer_institution_id"), "acquirerInstitutionID")
    }

    func testEachMistakeNamesFileLineAndKey() throws {
        var e = error("[daemon]\nsocket = \"/run/tapd/api.sock\"\ncard_timout = 5\n")
        XCTAssertEqual(e?.description, "t.toml:3: daemon.card_timout: unknown key")
        e = error("[deamon]\nsocket = \"/x\"\n")
        XCTAssertEqual(e?.line, 1)
        XCTAssertEqual(e?.key, "deamon")
        e = error("[daemon]\n\ncard_timeout = \"soon\"\n")
        XCTAssertEqual(e?.description, "t.toml:3: daemon.card_timeout: expected a number")
        e = error("[daemon]\nlog_level = \"loud\"\n")
        XCTAssertEqual(e?.line, 2)
        XCTAssertTrue(e?.message.contains("trace, debug, info") == true)
        e = error("[daemon]\nsocket = \"relative.sock\"\n")
        XCTAssertEqual(e?.description, "t.toml:2: daemon.socket: must be an absolute path")
        e = error("[readers]\npcsc = false\n")
        XCTAssertEqual(e?.key, "readers.pcsc")
        e = error("[readers]\nlibnfc = [\"/dev/ttyUSB0\"]\n")
        XCTAssertEqual(e?.line, 2)
        XCTAssertTrue(e?.message.contains("not a libnfc connstring") == true, e?.description ?? "")
        e = error("[daemon]\nsocket = \"/x\n")
        XCTAssertEqual(e?.line, 2)
        XCTAssertTrue(e?.message.hasPrefix("not valid TOML") == true)
        e = error("[acquirer]\nport = 5000\n")
        XCTAssertEqual(e?.key, "acquirer.host")
        XCTAssertEqual(e?.message, "is required")
        XCTAssertEqual(e?.line, 1, "the table the key is missing from")
        e = error(
            "[acquirer]\nhost = \"h\"\nport = 70000\nca_file = \"/a\"\nclient_certificate_file = \"/b\"\nclient_key_file = \"/c\"\nterminal_id = \"T1234567\"\nmerchant_id = \"M12345678901234\"\n"
        )
        XCTAssertEqual(e?.key, "acquirer.port")
        XCTAssertEqual(e?.line, 3)
        e = error("daemon = 5\n")
        XCTAssertEqual(e?.message, "must be a table ([daemon])")
        XCTAssertThrowsError(try TapdConfiguration.load(file: "/nonexistent/tapd.toml")) { e in
            XCTAssertTrue("\(e)".hasPrefix("/nonexistent/tapd.toml: cannot read the file"), "\(e)")
        }
    }
}
