// `tapctl diagnose` on fake trees: one tree per field fault of the README's diagnose table, each asserting the
// finding and its fix; the acquirer check against the simulator over real TLS; the command itself with --json and
// --bundle.

import Foundation
import Journal
import Readers
import Simulators
import TapdCore
import TestSupport
import XCTest

@testable import Diagnostics

/// A machine laid out under a temporary directory: a healthy PC/SC terminal unless a test breaks something.
final class FakeTree {
    let root: String
    init() throws {
        root = NSTemporaryDirectory() + "tapd-tree-\(UUID().uuidString.prefix(8))"
        try write(
            "/etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\ntapd:x:998:998:tapd payment terminal daemon:/var/lib/tapd:/usr/sbin/nologin\n"
        )
        try write("/etc/group", "root:x:0:\ndialout:x:20:tapd\ntapd:x:998:\nplugdev:x:46:\n")
        try write("/usr/sbin/pcscd", "")
        try write("/run/pcscd/pcscd.comm", "")
        try write("/etc/systemd/system/sockets.target.wants/pcscd.socket", "")
        try write("/usr/lib/pcsc/drivers/ifd-ccid.bundle/Contents/Info.plist", Self.plist(options: "0x0001"))
        try write("/etc/modprobe.d/tapd-blacklist.conf", "blacklist pn533_usb\nblacklist pn533\nblacklist nfc\n")
        try write("/etc/udev/rules.d/94-tapd.rules", "# tapd\n")
        try FileManager.default.createDirectory(atPath: root + "/var/lib/tapd", withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: root) }

    static func plist(options: String) -> String {
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <plist version="1.0"><dict>
        <key>ifdDriverOptions</key><string>\(options)</string>
        <key>ifdVendorID</key><array><string>0x072F</string><string>0x072F</string><string>0x04E6</string></array>
        <key>ifdProductID</key><array><string>0x223B</string><string>0x2200</string><string>0x5790</string></array>
        </dict></plist>
        """
    }

    func write(_ path: String, _ text: String, mode: Int = 0o644) throws {
        try FileManager.default.createDirectory(
            atPath: (root + path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: root + path, atomically: true, encoding: .utf8)
        chmod(root + path, mode_t(mode))
    }
    func remove(_ path: String) { try? FileManager.default.removeItem(atPath: root + path) }
    func link(_ path: String, to target: String) throws {
        try FileManager.default.createDirectory(
            atPath: (root + path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: root + path, withDestinationPath: target)
    }

    /// A USB device in sysfs, its interface drivers, and its /dev/bus/usb node (mode, group).
    func usb(
        _ path: String, _ vid: String, _ pid: String, bcd: String = "0207", bus: Int = 1, dev: Int = 4,
        drivers: [String] = [],
        node: (mode: Int, gid: Int)? = (0o660, 998), persist: String? = nil
    ) throws {
        let d = "/sys/bus/usb/devices/\(path)"
        for (k, v) in [
            ("idVendor", vid), ("idProduct", pid), ("bcdDevice", bcd), ("busnum", String(bus)), ("devnum", String(dev)),
            ("product", "reader"),
        ] {
            try write("\(d)/\(k)", v + "\n")
        }
        if let persist { try write("\(d)/power/persist", persist + "\n") }
        for (i, drv) in drivers.enumerated() {
            try FileManager.default.createDirectory(
                atPath: root + "/sys/bus/usb/drivers/\(drv)", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(
                atPath: root + "/sys/bus/usb/devices/\(path):1.\(i)", withIntermediateDirectories: true)
            try link("/sys/bus/usb/devices/\(path):1.\(i)/driver", to: "../../drivers/\(drv)")
        }
        if let node {
            let n = String(format: "/dev/bus/usb/%03d/%03d", bus, dev)
            try write(n, "", mode: node.mode)
            chown(root + n, 0, gid_t(node.gid))
        }
    }

    func diagnose(config: String? = nil, now: Date = Date()) throws -> [Finding] {
        var input = DiagnoseInput()
        input.system = SystemView(root: root)
        input.now = now
        if let config { input.configuration = try TapdConfiguration.parse(config, file: "tapd.toml") }
        return Diagnostics.run(input)
    }
}

final class DiagnosticsTests: XCTestCase {
    func finding(_ findings: [Finding], _ check: String, file: StaticString = #filePath, line: UInt = #line) throws
        -> Finding
    {
        try XCTUnwrap(
            findings.first { $0.check == check }, "no \(check) finding in \(findings.map(\.check))", file: file,
            line: line)
    }

    func testAHealthyPCSCTerminal() throws {
        let t = try FakeTree()
        try t.usb("1-1.4", "072f", "223b", bcd: "0107")
        let f = try t.diagnose(config: "[readers]\npcsc = true\n")
        for check in [
            "tapd user", "pcscd", "polkit", "CCID driver", "reader 072f:223b", "kernel NFC driver", "udev rules",
            "CA keys", "clock", "test driver",
        ] {
            let x = try finding(f, check)
            XCTAssertEqual(x.verdict, .pass, "\(check): \(x)")
        }
    }

    // §5 row 1: pcscd missing or not started.
    func testPcscdMissingOrNotStarted() throws {
        let t = try FakeTree()
        try t.usb("1-1.4", "072f", "223b")
        t.remove("/run/pcscd/pcscd.comm")
        t.remove("/etc/systemd/system/sockets.target.wants/pcscd.socket")
        var p = try finding(try t.diagnose(), "pcscd")
        XCTAssertEqual(p.verdict, .fail)
        XCTAssertEqual(p.fix, "systemctl enable --now pcscd.socket")
        t.remove("/usr/sbin/pcscd")
        p = try finding(try t.diagnose(), "pcscd")
        XCTAssertEqual(p.fix, "apt-get install pcscd libccid")
        XCTAssertEqual(
            try finding(
                try t.diagnose(config: "[readers]\npcsc = false\nlibnfc = [\"pn532_uart:/dev/ttyUSB0\"]\n"), "pcscd"
            ).verdict, .pass, "not needed")
    }

    // §5 row 2: no reader, or one the CCID driver does not list.
    func testNoReaderOrUnsupportedReader() throws {
        let t = try FakeTree()
        var r = try finding(try t.diagnose(), "USB readers")
        XCTAssertEqual(r.verdict, .fail)
        XCTAssertTrue(r.summary.contains("SCARD_E_NO_READERS_AVAILABLE"))
        try t.usb("1-2", "076b", "5022")  // OMNIKEY 5022, absent from this tree's Info.plist
        r = try finding(try t.diagnose(), "reader 076b:5022")
        XCTAssertEqual(r.verdict, .fail)
        XCTAssertEqual(r.fix, "upgrade libccid (or install the vendor's driver)")
    }

    // §5 row 3: the kernel's pn533_usb holds the reader; another program holds it.
    func testKernelDriverOrAnotherProgramHoldsTheReader() throws {
        let t = try FakeTree()
        try t.usb("1-1.4", "04e6", "5591", drivers: ["pn533_usb"])
        try t.write("/sys/module/pn533_usb/refcnt", "1\n")
        let k = try finding(try t.diagnose(config: "[readers]\nlibnfc = [\"pn53x_usb\"]\n"), "kernel NFC driver")
        XCTAssertEqual(k.verdict, .fail)
        XCTAssertTrue(k.fix?.contains("modprobe -r pn533_usb pn533 nfc") == true)
        XCTAssertTrue(k.evidence.contains("04e6:5591 at 1-1.4 is bound to pn533_usb"), "\(k.evidence)")

        let u = try FakeTree()
        try u.usb("1-1.4", "04e6", "5591", drivers: ["usbfs"])
        try u.write("/proc/4242/comm", "nfc-poll\n")
        try u.link("/proc/4242/fd/7", to: "/dev/bus/usb/001/004")
        let a = try finding(try u.diagnose(), "access 04e6:5591")
        XCTAssertEqual(a.verdict, .fail)
        XCTAssertTrue(a.evidence.contains("held by: nfc-poll (pid 4242)"), "\(a.evidence)")

        let w = try FakeTree()
        w.remove("/etc/modprobe.d/tapd-blacklist.conf")
        try w.write("/sys/module/nfc/refcnt", "0\n")
        XCTAssertEqual(try finding(try w.diagnose(), "kernel NFC driver").verdict, .warn)
    }

    // §5 row 4: the device node is not tapd's.
    func testDeviceNodeTapdCannotOpen() throws {
        let t = try FakeTree()
        try t.usb("1-1.4", "072f", "2200", node: (0o664, 0))
        let a = try finding(try t.diagnose(), "access 072f:2200")
        XCTAssertEqual(a.verdict, .fail)
        XCTAssertTrue(a.fix?.contains("94-tapd.rules") == true)
        try t.usb("1-1.5", "04cc", "2533", dev: 5, node: (0o660, 998))
        XCTAssertEqual(try finding(try t.diagnose(), "access 04cc:2533").verdict, .pass)
        t.remove("/etc/passwd")
        XCTAssertEqual(try finding(try t.diagnose(), "tapd user").verdict, .fail)
    }

    // §5 row 5: pcscd with polkit and no rule for tapd.
    func testPolkitWithoutARuleForTapd() throws {
        let t = try FakeTree()
        try t.write("/usr/share/polkit-1/actions/org.debian.pcsc-lite.policy", "<policyconfig/>")
        var p = try finding(try t.diagnose(), "polkit")
        XCTAssertEqual(p.verdict, .fail)
        XCTAssertTrue(p.fix?.contains("subject.user == \"tapd\"") == true)
        try t.write(
            "/etc/polkit-1/rules.d/60-tapd-pcsc.rules",
            "polkit.addRule(function(action, subject) { if (action.id == \"org.debian.pcsc-lite.access_pcsc\" && subject.user == \"tapd\") return polkit.Result.YES; });"
        )
        p = try finding(try t.diagnose(), "polkit")
        XCTAssertEqual(p.verdict, .pass)
    }

    // §5 row 6: ACR122U firmware libccid calls bogus; row 13: 2.15+ with libnfc's USB driver.
    func testACR122UFirmware() throws {
        let t = try FakeTree()
        try t.usb("1-1.4", "072f", "2200", bcd: "0205")
        let r = try finding(try t.diagnose(), "reader 072f:2200")
        XCTAssertEqual(r.verdict, .fail)
        XCTAssertTrue(r.summary.contains("2.05") && r.summary.contains("bogus"), r.summary)
        let n = try FakeTree()
        try n.usb("1-1.4", "072f", "2200", bcd: "0216")
        let w = try finding(
            try n.diagnose(config: "[readers]\npcsc = false\nlibnfc = [\"acr122_usb\"]\n"), "reader 072f:2200")
        XCTAssertEqual(w.verdict, .warn)
        XCTAssertTrue(w.fix?.contains("through pcscd") == true)
    }

    // §5 row 8: escapes refused because ifdDriverOptions lacks 0x0001.
    func testEscapesRefusedByTheCCIDDriver() throws {
        let t = try FakeTree()
        try t.write("/usr/lib/pcsc/drivers/ifd-ccid.bundle/Contents/Info.plist", FakeTree.plist(options: "0x0000"))
        try t.usb("1-1.4", "072f", "223b")
        let e = try finding(try t.diagnose(), "reader escapes")
        XCTAssertEqual(e.verdict, .warn)
        XCTAssertTrue(e.fix?.contains("<string>0x0001</string>") == true)
    }

    // §5 rows 11, 12: a PN532 on a UART that is not there or not tapd's.
    func testSerialPN532() throws {
        let t = try FakeTree()
        try t.write("/dev/ttyUSB1", "", mode: 0o660)
        var f = try finding(
            try t.diagnose(config: "[readers]\npcsc = false\nlibnfc = [\"pn532_uart:/dev/ttyUSB0\"]\n"),
            "libnfc pn532_uart:/dev/ttyUSB0")
        XCTAssertEqual(f.verdict, .fail)
        XCTAssertEqual(f.evidence, ["serial ports: /dev/ttyUSB1"])
        try t.write("/dev/ttyUSB0", "", mode: 0o660)
        chown(t.root + "/dev/ttyUSB0", 0, 0)
        f = try finding(
            try t.diagnose(config: "[readers]\npcsc = false\nlibnfc = [\"pn532_uart:/dev/ttyUSB0\"]\n"),
            "libnfc pn532_uart:/dev/ttyUSB0")
        XCTAssertEqual(f.verdict, .fail)
        XCTAssertTrue(f.fix?.contains("dialout") == true)
        chown(t.root + "/dev/ttyUSB0", 0, 20)
        f = try finding(
            try t.diagnose(config: "[readers]\npcsc = false\nlibnfc = [\"pn532_uart:/dev/ttyUSB0\"]\n"),
            "libnfc pn532_uart:/dev/ttyUSB0")
        XCTAssertEqual(f.verdict, .pass)
        XCTAssertEqual(
            try finding(
                try t.diagnose(config: "[readers]\npcsc = false\nlibnfc = [\"pn532_uart:/dev/ttyUSB0\"]\n"),
                "USB readers"
            ).verdict, .pass, "a UART reader needs no USB one")
    }

    func testLibnfcConfiguration() throws {
        let t = try FakeTree()
        XCTAssertEqual(try finding(try t.diagnose(), "libnfc configuration").verdict, .pass)
        try t.write("/etc/nfc/devices.d/pn532.conf", "name = \"My PN532\"\nconnstring = pn532_uart:/dev/ttyS0\n")
        let f = try finding(try t.diagnose(), "libnfc configuration")
        XCTAssertEqual(f.verdict, .warn)
        XCTAssertTrue(f.evidence.contains("device: pn532_uart:/dev/ttyS0"), "\(f.evidence)")
        XCTAssertEqual(
            try finding(
                try t.diagnose(config: "[readers]\nlibnfc = [\"pn532_uart:/dev/ttyS0\"]\n"), "libnfc configuration"
            ).verdict, .pass)
        try t.write("/etc/nfc/libnfc.conf", "allow_intrusive_scan = true\n")
        XCTAssertEqual(
            try finding(try t.diagnose(), "libnfc configuration").summary,
            "libnfc's intrusive scan is on: it writes to every serial port it finds")
    }

    // §5 row 14: a PC/SC-only reader configured for libnfc.
    func testACR1252UForLibnfc() throws {
        let t = try FakeTree()
        try t.usb("1-1.4", "072f", "223b")
        let f = try finding(try t.diagnose(config: "[readers]\nlibnfc = [\"acr122_usb\"]\n"), "reader 072f:223b")
        XCTAssertEqual(f.verdict, .fail)
        XCTAssertTrue(f.summary.contains("cannot be driven by libnfc"))
    }

    // §5 row 15: libnfc's rule names a group that does not exist.
    func testPlugdevMissing() throws {
        let t = try FakeTree()
        try t.write("/etc/group", "root:x:0:\ndialout:x:20:tapd\ntapd:x:998:\n")
        try t.write("/lib/udev/rules.d/93-pn53x.rules", "# libnfc\n")
        XCTAssertEqual(try finding(try t.diagnose(), "group plugdev").verdict, .warn)
    }

    // §5 row 16: USB persist on a CCID reader.
    func testUSBPersist() throws {
        let t = try FakeTree()
        try t.usb("1-1.4", "04e6", "5790", persist: "1")
        let f = try finding(try t.diagnose(), "reader 04e6:5790")
        XCTAssertEqual(f.verdict, .warn)
        XCTAssertTrue(f.fix?.contains("power/persist") == true)
    }

    func testTestKeysClockJournalAndTheTestDriver() async throws {
        let t = try FakeTree()
        let production = """
            [terminal]
            test_keys = true
            [acquirer]
            host = "acq.example.net"
            port = 5000
            ca_file = "/etc/tapd/ca.pem"
            client_certificate_file = "/etc/tapd/t.pem"
            client_key_file = "/etc/tapd/t.key"
            terminal_id = "TERM0001"
            merchant_id = "MERCHANT0000001"
            """
        let k = try finding(try t.diagnose(config: production), "CA keys")
        XCTAssertEqual(k.verdict, .fail)
        XCTAssertTrue(k.fix?.contains("test_keys = false") == true)
        XCTAssertEqual(
            try finding(try t.diagnose(now: Date(timeIntervalSince1970: 1_500_000_000)), "clock").verdict, .fail)
        try t.write("/etc/reader.conf.d/vpcd", "FRIENDLYNAME \"Virtual PCD\"\n")
        XCTAssertEqual(try finding(try t.diagnose(config: production), "test driver").verdict, .warn)
        // Turned on in a production configuration: a FAIL, whether the driver is installed or not.
        let virtualOn = production.replacingOccurrences(
            of: "[acquirer]", with: "[readers]\nvirtual_readers = true\n\n[acquirer]")
        let v = try finding(try t.diagnose(config: virtualOn), "test driver")
        XCTAssertEqual(v.verdict, .fail, "\(v)")
        XCTAssertTrue(v.fix?.contains("virtual_readers = false") == true)

        // A journal with a quarantined reversal.
        let key = try JournalKey(bytes: [UInt8](repeating: 7, count: 32))
        let j = try Journal(path: t.root + "/var/lib/tapd/journal.sqlite", key: key)
        let (r, _) = try await j.createSale(idempotencyKey: "k", amount: 100, currency: 978)
        var c = SaleChange(.failed)
        c.enqueue = [NewFollowUp(kind: .reversal, mti: "0400", message: [1, 2, 3])]
        let sale = try await j.apply(r.id, c)
        try await j.quarantine(
            sale.followUps[0].id, reason: "refused 5 times by the acquirer (last: refused with response code 12)")
        let f = try finding(try t.diagnose(), "journal")
        XCTAssertEqual(f.verdict, .fail)
        XCTAssertTrue(f.evidence.contains("store-and-forward: 0 pending, 1 quarantined"), "\(f.evidence)")
        XCTAssertTrue(
            f.evidence.contains { $0.contains("reversal 0400: refused 5 times") },
            "names each quarantined message and why: \(f.evidence)")
        XCTAssertTrue(f.fix?.contains("tapctl saf") == true)
        XCTAssertTrue(f.evidence.contains("integrity: ok"))
    }

    func testAcquirerCheckOverRealTLS() async throws {
        let dir = NSTemporaryDirectory() + "tapd-diag-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let certs = try TestCertificates.generate(in: dir)
        let sim = try AcquirerSimulator(
            certificateFile: certs.serverCertificateFile, keyFile: certs.serverKeyFile, clientCAFile: certs.caFile)
        let port = try await sim.start()
        defer { Task { await sim.stop() } }
        func config(_ port: Int, ca: String = certs.caFile) throws -> TapdConfiguration {
            try TapdConfiguration.parse(
                """
                [acquirer]
                host = "127.0.0.1"
                port = \(port)
                ca_file = "\(ca)"
                client_certificate_file = "\(certs.clientCertificateFile)"
                client_key_file = "\(certs.clientKeyFile)"
                terminal_id = "TAPD0001"
                merchant_id = "TAPDDIAG0000001"
                """)
        }
        let ok = await Diagnostics.acquirer(try config(port))
        XCTAssertEqual(ok.verdict, .pass, "\(ok)")
        XCTAssertTrue(ok.evidence.contains { $0.hasPrefix("echo 0800/301 → 0810 00") }, "\(ok.evidence)")
        // Nobody listening.
        let closed = await Diagnostics.acquirer(try config(1))
        XCTAssertEqual(closed.verdict, .fail)
        XCTAssertTrue(closed.summary.hasPrefix("cannot connect to the acquirer"), closed.summary)
        // The server's certificate does not chain to the configured CA.
        let foreign = await Diagnostics.acquirer(try config(port, ca: certs.clientCertificateFile))
        XCTAssertEqual(foreign.verdict, .fail)
        XCTAssertTrue(foreign.summary.contains("TLS"), foreign.summary)
        XCTAssertTrue(foreign.fix?.contains("certificates") == true)
    }

    /// The RF test through real libnfc and the PN532 emulator: a card gives its ATS, PPSE and applications; none
    /// gives a FAIL with what to try.
    func testRFTest() async throws {
        let emulator = try PN532Emulator()
        defer { emulator.stop() }
        let readers = ReaderManagerConfiguration(pcsc: false, libnfc: [emulator.connstring])
        emulator.present(try VirtualCard(.visaCard()))
        let ok = await Diagnostics.rfTest(readers, seconds: 3)
        XCTAssertEqual(ok.verdict, .pass, "\(ok)")
        XCTAssertTrue(
            ok.evidence.contains("SELECT PPSE: 9000") || ok.evidence.contains { $0.hasPrefix("SELECT PPSE") },
            "\(ok.evidence)")
        XCTAssertTrue(ok.evidence.contains { $0.hasPrefix("applications: A0000000031010") }, "\(ok.evidence)")
        XCTAssertTrue(ok.evidence.contains("FWI 7"), "\(ok.evidence)")
        XCTAssertTrue(ok.evidence.contains { $0.hasPrefix("per-APDU time: ") && $0.hasSuffix(" ms") })
        emulator.present(nil)
        let none = await Diagnostics.rfTest(readers, seconds: 1)
        XCTAssertEqual(none.verdict, .fail)
        XCTAssertEqual(none.summary, "no card or phone within 1 s")
        XCTAssertTrue(none.fix?.contains("flat on the reader") == true)
    }

    /// The live pcscd probe against the test pcscd (root): readers, and the card's ATR when one is there.
    func testLivePCSCProbe() async throws {
        let lab = try PCSCLab.shared.get()
        let (vicc, _) = try lab.insert("visa-card")
        defer {
            if vicc.isRunning { vicc.terminate() }
            vicc.waitUntilExit()
        }
        var f = await Diagnostics.livePCSC()
        for _ in 0..<50 where !f.evidence.contains(where: { $0.contains("card present") }) {
            try await Task.sleep(for: .milliseconds(100))
            f = await Diagnostics.livePCSC()
        }
        XCTAssertEqual(f.verdict, .pass, "\(f)")
        XCTAssertTrue(
            f.evidence.contains { $0.hasPrefix("Virtual PCD 00 00 — card present, ATR 3B8F8001") }, "\(f.evidence)")
    }

    func testLogsAreMaskedForTheSupportBundle() {
        let line = "pan=4761739001010119 t2=4761739001010119D25122011758928889 stan 000123 amount 000000001234"
        let masked = Diagnostics.maskCardData(line)
        XCTAssertFalse(masked.contains("4761739001010119"))
        XCTAssertFalse(masked.contains("D2512"), "the rest of track 2 goes too")
        XCTAssertEqual(masked, "pan=476173******0119 t2=476173******0119 stan 000123 amount 000000001234")
    }

    /// The command itself on a fake tree: JSON on stdout, exit code by the worst finding, and a support archive.
    func testTapctlDiagnoseOnAFakeTree() throws {
        let t = try FakeTree()
        try t.usb("1-1.4", "04e6", "5591", drivers: ["pn533_usb"])
        let tapctl = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
            "tapctl"
        ).path
        let bundle = t.root + "/support.tar.gz"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tapctl)
        p.arguments = ["diagnose", "--root", t.root, "--json", "--offline", "--bundle", bundle]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 2, "a FAIL gives exit code 2")
        let report = try JSONDecoder().decode(DiagnoseReport.self, from: data)
        XCTAssertEqual(report.schema, "tapd-diagnose/1")
        XCTAssertEqual(report.verdict, .fail)
        XCTAssertEqual(report.counts.fail, report.findings.filter { $0.verdict == .fail }.count)
        let findings = report.findings
        XCTAssertEqual(findings.first { $0.check == "kernel NFC driver" }?.verdict, .fail)
        XCTAssertTrue(FileManager.default.fileExists(atPath: bundle))
        let text = try Tool.run("/usr/bin/tar", ["-tzf", bundle]).output
        XCTAssertTrue(
            text.contains("tapd-support/report.json") && text.contains("tapd-support/report.txt")
                && text.contains("tapd-support/versions.txt"), text)
    }
}
