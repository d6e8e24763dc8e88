// What installs tapd as a real daemon, checked with the real tools: the udev rules parse and name exactly the
// readers tapd drives through libnfc; systemd-analyze verifies the unit and rates its exposure; systemd-sysusers and
// systemd-tmpfiles apply our files to a scratch root; `make install` lays out a working tree and `make uninstall`
// takes it away.

import Foundation
import TestSupport
import XCTest

@testable import Readers

final class DeploymentTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static var binDir: String { URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path }

    func run(_ tool: String, _ args: [String], cwd: String? = nil, env: [String: String] = [:]) throws -> (
        Int32, String
    ) {
        guard FileManager.default.isExecutableFile(atPath: tool) else { throw XCTSkip("\(tool) is not installed") }
        return try Tool.run(tool, args, environment: env, directory: cwd)
    }

    func temp() throws -> String {
        let d = NSTemporaryDirectory() + "tapd-deploy-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: d) }
        return d
    }

    // MARK: udev

    /// One rule line: comma-separated KEY[{attr}] OP "value" (udev(7)); returns the (key, op, value) triples.
    static func parseRule(_ line: String) -> [(key: String, op: String, value: String)]? {
        var out: [(String, String, String)] = []
        for part in line.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            guard
                let m = part.range(
                    of: #"^([A-Z_]+(\{[A-Za-z0-9_/.]+\})?)(==|!=|\+=|-=|:=|=)"([^"]*)"$"#, options: .regularExpression),
                m == part.startIndex..<part.endIndex
            else { return nil }
            let opRange = part.range(of: #"(==|!=|\+=|-=|:=|=)"#, options: .regularExpression)!
            out.append(
                (
                    String(part[..<opRange.lowerBound]), String(part[opRange]),
                    String(part[part.index(after: opRange.upperBound)..<part.index(before: part.endIndex)])
                ))
        }
        return out
    }

    func testUdevRulesParseAndNameTheLibnfcReaders() throws {
        let text = try String(contentsOfFile: Self.root + "/Udev/94-tapd.rules", encoding: .utf8)
        let matchKeys: Set<String> = ["ACTION", "SUBSYSTEM", "ENV{DEVTYPE}", "ATTRS{idVendor}", "ATTRS{idProduct}"]
        let assignKeys: Set<String> = ["GROUP", "MODE", "GOTO", "LABEL"]
        var listed: Set<String> = []
        var labels: Set<String> = []
        var gotos: Set<String> = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let rule = try XCTUnwrap(Self.parseRule(line), "line \(n + 1) does not parse: \(line)")
            for r in rule {
                if ["==", "!="].contains(r.op) {
                    XCTAssertTrue(matchKeys.contains(r.key), "line \(n + 1): unexpected match key \(r.key)")
                } else {
                    XCTAssertTrue(
                        assignKeys.contains(r.key) && r.op == "=",
                        "line \(n + 1): unexpected assignment \(r.key)\(r.op)")
                }
                if r.key == "LABEL" { labels.insert(r.value) }
                if r.key == "GOTO" { gotos.insert(r.value) }
            }
            if let v = rule.first(where: { $0.key == "ATTRS{idVendor}" })?.value,
                let p = rule.first(where: { $0.key == "ATTRS{idProduct}" })?.value
            {
                XCTAssertEqual(rule.first { $0.key == "GROUP" }?.value, "tapd")
                XCTAssertEqual(rule.first { $0.key == "MODE" }?.value, "0660")
                listed.insert("\(v):\(p)")
            }
        }
        XCTAssertEqual(gotos, labels, "every GOTO has its LABEL")
        // Exactly the USB readers tapd can drive through libnfc; none that pcscd owns.
        let libnfc = Set(
            USBInventory.knownReaders.filter { $0.stacks.contains(.libnfc) }.map {
                String(format: "%04x:%04x", $0.vendorID, $0.productID)
            })
        XCTAssertEqual(listed, libnfc)
        // Numbered after libccid's (92) and libnfc's (93) rules, so the group set here is the last word.
        XCTAssertTrue("94-tapd.rules" > "93-pn53x.rules" && "94-tapd.rules" > "92-libccid.rules")
        let blacklist = try String(contentsOfFile: Self.root + "/Udev/tapd-blacklist.conf", encoding: .utf8)
        let modules = blacklist.split(separator: "\n").filter { $0.hasPrefix("blacklist ") }.map { $0.dropFirst(10) }
        XCTAssertEqual(Set(modules.map(String.init)), ["pn533_usb", "pn533", "nfc"])
    }

    // MARK: systemd

    /// Copies the unit (and optionally the PC/SC-only drop-in) to a unit directory, with ExecStart pointing at the
    /// tapd just built (systemd-analyze verify checks that the binary exists).
    func unitDirectory(pcscOnly: Bool) throws -> String {
        let d = try temp()
        let unit = try String(contentsOfFile: Self.root + "/Systemd/tapd.service", encoding: .utf8)
            .replacingOccurrences(of: "/usr/bin/tapd", with: Self.binDir + "/tapd")
        try unit.write(toFile: d + "/tapd.service", atomically: true, encoding: .utf8)
        if pcscOnly {
            try FileManager.default.createDirectory(atPath: d + "/tapd.service.d", withIntermediateDirectories: true)
            try FileManager.default.copyItem(
                atPath: Self.root + "/Systemd/tapd-pcsc-only.conf", toPath: d + "/tapd.service.d/pcsc-only.conf")
        }
        return d
    }

    func exposure(_ text: String) -> Double? {
        guard
            let r = text.range(of: #"Overall exposure level for tapd.service: ([0-9.]+)"#, options: .regularExpression)
        else { return nil }
        return Double(
            text[r].split(separator: ":").last!.trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
    }

    func testUnitVerifiesAndIsHardened() throws {
        for pcscOnly in [false, true] {
            let d = try unitDirectory(pcscOnly: pcscOnly)
            let env = ["SYSTEMD_UNIT_PATH": d + ":"]
            let (rc, out) = try run(
                "/usr/bin/systemd-analyze", ["verify", "--man=no", "tapd.service"], cwd: d, env: env)
            XCTAssertEqual(rc, 0, out)
            XCTAssertFalse(out.contains("Unknown"), out)
            let (_, sec) = try run(
                "/usr/bin/systemd-analyze", ["security", "--offline=true", "tapd.service"], cwd: d, env: env)
            let score = try XCTUnwrap(exposure(sec), sec)
            XCTAssertLessThanOrEqual(score, 2.0, "exposure \(score)\(pcscOnly ? " with the PC/SC-only drop-in" : "")")
            if pcscOnly { XCTAssertTrue(sec.contains("PrivateDevices="), sec) }
        }
        let unit = try String(contentsOfFile: Self.root + "/Systemd/tapd.service", encoding: .utf8)
        for needed in [
            "Type=notify", "WatchdogSec=", "User=tapd", "RuntimeDirectory=tapd", "StateDirectory=tapd",
            "LoadCredential=journal.key:",
            "RestrictAddressFamilies=AF_UNIX AF_NETLINK AF_INET AF_INET6", "NoNewPrivileges=yes",
            "CapabilityBoundingSet=",
        ] {
            XCTAssertTrue(unit.contains(needed), "tapd.service lacks \(needed)")
        }
    }

    func testSysusersAndTmpfilesApplyToAScratchRoot() throws {
        let r = try temp()
        try FileManager.default.createDirectory(atPath: r + "/etc", withIntermediateDirectories: true)
        let (u, uout) = try run("/usr/bin/systemd-sysusers", ["--root=" + r, Self.root + "/Systemd/tapd.sysusers"])
        XCTAssertEqual(u, 0, uout)
        let passwd = try String(contentsOfFile: r + "/etc/passwd", encoding: .utf8)
        XCTAssertTrue(passwd.contains("tapd:x:") && passwd.contains(":/var/lib/tapd:/usr/sbin/nologin"), passwd)
        let group = try String(contentsOfFile: r + "/etc/group", encoding: .utf8)
        XCTAssertTrue(group.contains("dialout:x:") && group.contains(":tapd"), group)
        // The point of sale's group may use the API socket and nothing else; tapd is in it to give the socket that group.
        XCTAssertTrue(
            group.split(separator: "\n").contains { $0.hasPrefix("tapd-pos:x:") && $0.hasSuffix(":tapd") }, group)
        // The configuration is readable by the daemon (group tapd), not by the point of sale.
        try FileManager.default.createDirectory(atPath: r + "/etc/tapd", withIntermediateDirectories: true)
        FileManager.default.createFile(
            atPath: r + "/etc/tapd/tapd.toml", contents: Data("# test\n".utf8), attributes: [.posixPermissions: 0o600])
        let (t, tout) = try run(
            "/usr/bin/systemd-tmpfiles", ["--create", "--root=" + r, Self.root + "/Systemd/tapd.tmpfiles"])
        XCTAssertEqual(t, 0, tout)
        let state = try FileManager.default.attributesOfItem(atPath: r + "/var/lib/tapd")
        XCTAssertEqual((state[.posixPermissions] as? NSNumber)?.intValue, 0o700)
        let config = try FileManager.default.attributesOfItem(atPath: r + "/etc/tapd/tapd.toml")
        XCTAssertEqual((config[.posixPermissions] as? NSNumber)?.intValue, 0o640)
        let tapdGID = group.split(separator: "\n").first { $0.hasPrefix("tapd:x:") }?.split(separator: ":")[2]
        XCTAssertEqual(
            (config[.groupOwnerAccountID] as? NSNumber).map { String($0.intValue) }, tapdGID.map(String.init))
        let credstore = try FileManager.default.attributesOfItem(atPath: r + "/etc/credstore/tapd")
        XCTAssertEqual((credstore[.posixPermissions] as? NSNumber)?.intValue, 0o700)
    }

    // MARK: make install

    func testMakeInstallLaysOutAWorkingTreeAndUninstallRemovesIt() throws {
        let dest = try temp()
        let make = ["install", "NO_BUILD=1", "BINPATH=" + Self.binDir, "PREFIX=/usr", "DESTDIR=" + dest]
        let (rc, out) = try run("/usr/bin/make", ["-s", "-C", Self.root] + make)
        XCTAssertEqual(rc, 0, out)
        let fm = FileManager.default
        for f in [
            "/usr/lib/tapd/tapd", "/usr/lib/tapd/tapctl",
            "/usr/lib/tapd/tapd_EMVKernel.resources/CAKeys/production.capk",
            "/usr/lib/tapd/tapd_ControlAPI.resources/openapi.json", "/usr/lib/systemd/system/tapd.service",
            "/usr/lib/sysusers.d/tapd.conf",
            "/usr/lib/tmpfiles.d/tapd.conf", "/usr/lib/udev/rules.d/94-tapd.rules",
            "/usr/lib/modprobe.d/tapd-blacklist.conf",
            "/etc/tapd/tapd.toml", "/usr/share/tapd/capk/production.capk", "/usr/share/tapd/capk/revoked.crl",
            "/usr/share/doc/tapd/Firmware-Notes/README.md", "/usr/share/doc/tapd/tapd-pcsc-only.conf",
        ] {
            XCTAssertTrue(fm.fileExists(atPath: dest + f), "missing \(f)")
        }
        XCTAssertEqual(try fm.destinationOfSymbolicLink(atPath: dest + "/usr/bin/tapd"), "/usr/lib/tapd/tapd")
        XCTAssertTrue(
            try String(contentsOfFile: dest + "/usr/lib/systemd/system/tapd.service", encoding: .utf8).contains(
                "ExecStart=/usr/bin/tapd run"))
        // The installed binaries find their resources (CA keys) where they were put.
        let (lc, list) = try run(dest + "/usr/lib/tapd/tapctl", ["capk", "list"])
        XCTAssertEqual(lc, 0, list)
        XCTAssertTrue(list.contains("Visa 1984-bit production"), list)
        // The installed default configuration is valid (it fails only on the journal key, which is the operator's).
        let (cc, check) = try run(
            dest + "/usr/lib/tapd/tapd", ["run", "--check-config", "--config", dest + "/etc/tapd/tapd.toml"])
        XCTAssertEqual(cc, 78)
        XCTAssertTrue(check.contains("journal.key_file") && check.contains("head -c 32 /dev/urandom"), check)
        // A second install keeps a changed configuration.
        try "# changed\n".write(toFile: dest + "/etc/tapd/tapd.toml", atomically: true, encoding: .utf8)
        XCTAssertEqual(try run("/usr/bin/make", ["-s", "-C", Self.root] + make).0, 0)
        XCTAssertEqual(try String(contentsOfFile: dest + "/etc/tapd/tapd.toml", encoding: .utf8), "# changed\n")
        let (uc, uout) = try run(
            "/usr/bin/make", ["-s", "-C", Self.root, "uninstall", "PREFIX=/usr", "DESTDIR=" + dest])
        XCTAssertEqual(uc, 0, uout)
        let left =
            fm.enumerator(atPath: dest)?.compactMap { $0 as? String }.filter { path in
                var dir: ObjCBool = false
                return fm.fileExists(atPath: dest + "/" + path, isDirectory: &dir) && !dir.boolValue
            } ?? []
        XCTAssertEqual(left, ["etc/tapd/tapd.toml"], "only the changed configuration stays")
    }
}
