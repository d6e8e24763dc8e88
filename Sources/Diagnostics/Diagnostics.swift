// `tapctl diagnose`: each check names what it looked at, says PASS, WARN or FAIL, and gives the fix. The checks
// follow the field failures of the README's "tapctl diagnose" table (the number in a comment is the row there).
// Static checks read the machine through a SystemView; live probes (pcscd, the acquirer) run only on the real root.

import EMVKernel
import Foundation
import Journal
import Readers
import TLV
import TapdCore

/// How a check came out: PASS, WARN or FAIL, ordered from best to worst.
public enum Verdict: String, Codable, Sendable, Comparable {
    case pass = "PASS"
    case warn = "WARN"
    case fail = "FAIL"
    var rank: Int { self == .pass ? 0 : self == .warn ? 1 : 2 }
    /// Orders verdicts by severity: PASS < WARN < FAIL.
    public static func < (a: Verdict, b: Verdict) -> Bool { a.rank < b.rank }
}

/// The result of one check: its verdict, a one-line summary, the evidence seen and the fix.
public struct Finding: Codable, Sendable, Equatable {
    /// The check's name, e.g. "pcscd" or "reader 072f:2200".
    public let check: String
    /// PASS, WARN or FAIL.
    public let verdict: Verdict
    /// What the check found, in one line.
    public let summary: String
    /// What the check saw (paths, states, versions), one line each.
    public let evidence: [String]
    /// What the technician should do about it; nil when there is nothing to fix.
    public let fix: String?

    /// A finding of `check` with its verdict and summary, and optionally evidence and a fix.
    public init(_ check: String, _ verdict: Verdict, _ summary: String, evidence: [String] = [], fix: String? = nil) {
        self.check = check
        self.verdict = verdict
        self.summary = summary
        self.evidence = evidence
        self.fix = fix
    }
}

/// A USB device as sysfs shows it.
public struct USBDevice: Sendable, Equatable {
    /// The device's name under /sys/bus/usb/devices: its bus and port path.
    public let path: String  // "1-1.4"
    /// The USB vendor ID (idVendor).
    public let vendorID: UInt16
    /// The USB product ID (idProduct).
    public let productID: UInt16
    /// The device release number (bcdDevice, the firmware version on some readers); nil when sysfs lacks it.
    public let bcdDevice: UInt16?
    /// The product string the device reports; nil when it has none.
    public let product: String?
    /// The USB bus number (busnum); 0 when unknown.
    public let bus: Int
    /// The device number on its bus (devnum); 0 when unknown.
    public let address: Int
    /// The kernel drivers bound to the device's interfaces, e.g. "pn533_usb" or "usbfs".
    public let interfaceDrivers: [String]
    /// The vendor and product IDs as "vvvv:pppp" in lowercase hex.
    public var id: String { String(format: "%04x:%04x", vendorID, productID) }
    /// The device node, /dev/bus/usb/BBB/DDD.
    public var devNode: String { String(format: "/dev/bus/usb/%03d/%03d", bus, address) }
}

/// What the static checks look at: the machine, tapd's configuration and, when tapd runs, its status.
public struct DiagnoseInput: Sendable {
    /// The machine to inspect; the real root by default.
    public var system = SystemView()
    /// tapd's configuration; nil when none was read or it is invalid.
    public var configuration: TapdConfiguration?
    /// Why the configuration file is invalid; nil when it was read, or there is none.
    public var configurationError: String?
    /// tapd's own status (GET /v1/status) when it runs; then readers are asked through it, not opened.
    public var tapdStatus: [String: String]? = nil
    /// tapd's readers as it reports them (name, state, last error); empty when tapd does not run.
    public var tapdReaders: [(name: String, state: String, lastError: String?)] = []
    /// The time the checks judge against (the clock check, CA key expiry).
    public var now = Date()
    /// An input for the real machine with no configuration and no tapd status; the caller fills it in.
    public init() {}
}

/// The `tapctl diagnose` checks: each returns findings with a verdict and, when something is wrong, the fix.
public enum Diagnostics {
    /// Every static check, in the order a technician would look.
    public static func run(_ input: DiagnoseInput) -> [Finding] {
        let s = input.system
        let devices = usbDevices(s)
        var out: [Finding] = []
        out.append(configuration(input))
        out.append(tapd(input))
        out.append(tapdAccount(s))
        let pcscWanted = input.configuration?.readers.pcsc ?? true
        out.append(pcscd(s, wanted: pcscWanted))
        out.append(polkit(s, wanted: pcscWanted))
        out += ccidDriver(s, devices: devices)
        out += readers(s, devices: devices, configuration: input.configuration)
        out.append(kernelModules(s, devices: devices))
        out += permissions(s, devices: devices, configuration: input.configuration)
        out.append(udevRules(s))
        out += libnfcDevices(s, configuration: input.configuration)
        out.append(libnfcConfiguration(s, configuration: input.configuration))
        out.append(caKeys(s, configuration: input.configuration, now: input.now))
        out.append(clock(input.now))
        out += journal(s, configuration: input.configuration)
        out.append(vpcd(s, configuration: input.configuration))
        return out
    }

    /// The worst verdict among `findings`; PASS when there are none.
    public static func worst(_ findings: [Finding]) -> Verdict { findings.map(\.verdict).max() ?? .pass }

    /// For the support bundle's logs: every run of 13–19 digits (a PAN, or the PAN part of track 2 with what follows
    /// its separator) becomes first 6 and last 4 with the middle masked.
    public static func maskCardData(_ text: String) -> String {
        var out = ""
        var rest = Substring(text)
        while let r = rest.range(of: #"[0-9]{13,19}([D=][0-9]+)?"#, options: .regularExpression) {
            out += rest[..<r.lowerBound]
            out += CardDataMask.pan(String(rest[r].prefix { $0.isNumber }))
            rest = rest[r.upperBound...]
        }
        return out + rest
    }

    // MARK: Configuration and the daemon

    static func configuration(_ input: DiagnoseInput) -> Finding {
        if let e = input.configurationError {
            return Finding(
                "configuration", .fail, "the configuration file is invalid", evidence: [e],
                fix: "correct the line named above; `tapd run --check-config` checks it again")
        }
        guard let c = input.configuration else {
            return Finding(
                "configuration", .warn, "no configuration file read",
                fix: "install one: make install puts the default in /etc/tapd/tapd.toml")
        }
        return Finding(
            "configuration", .pass, "\(c.source) is valid",
            evidence: [
                "readers: pcsc \(c.readers.pcsc), libnfc \(c.readers.libnfc)",
                "acquirer: \(c.acquirer.map { "\($0.host):\($0.port)" } ?? "none")",
            ])
    }

    static func tapd(_ input: DiagnoseInput) -> Finding {
        guard let st = input.tapdStatus else {
            return Finding(
                "tapd", .warn, "tapd is not answering on its socket",
                evidence: ["socket: \(input.configuration?.daemon.socket ?? "/run/tapd/api.sock")"],
                fix: "systemctl status tapd; journalctl -u tapd -n 50 (a FAIL below usually says why it cannot start)")
        }
        var ev = st.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
        ev += input.tapdReaders.map {
            "reader \($0.name): \($0.state)\($0.lastError.map { " — last error \($0)" } ?? "")"
        }
        let broken = input.tapdReaders.filter { $0.state == "error" }
        if input.tapdReaders.isEmpty {
            return Finding(
                "tapd", .warn, "tapd runs but has no reader", evidence: ev, fix: "see the reader checks below")
        }
        if !broken.isEmpty {
            return Finding(
                "tapd", .warn, "tapd runs; \(broken.count) reader(s) in error", evidence: ev,
                fix: "see the reader checks below; replug the reader")
        }
        return Finding("tapd", .pass, "tapd runs", evidence: ev)
    }

    static func tapdAccount(_ s: SystemView) -> Finding {
        guard let a = s.account("tapd") else {
            return Finding(
                "tapd user", .fail, "there is no tapd system user",
                fix: "systemd-sysusers (make install put /usr/lib/sysusers.d/tapd.conf)")
        }
        return Finding(
            "tapd user", .pass, "user tapd (uid \(a.uid)) in groups \(a.groups.map(String.init).joined(separator: ","))"
        )
    }

    // MARK: pcscd (§5 rows 1, 5)

    static func pcscd(_ s: SystemView, wanted: Bool) -> Finding {
        let installed = s.exists("/usr/sbin/pcscd")
        let socket = s.exists("/run/pcscd/pcscd.comm")
        let enabled = [
            "/etc/systemd/system/sockets.target.wants/pcscd.socket",
            "/lib/systemd/system/sockets.target.wants/pcscd.socket",
            "/usr/lib/systemd/system/sockets.target.wants/pcscd.socket",
        ].contains { s.exists($0) }
        let ev = [
            "/usr/sbin/pcscd: \(installed ? "present" : "missing")", "pcscd.socket enabled: \(enabled)",
            "/run/pcscd/pcscd.comm: \(socket ? "present" : "missing")",
        ]
        if !wanted { return Finding("pcscd", .pass, "PC/SC is not used (readers.pcsc = false)", evidence: ev) }
        if !installed {
            return Finding(
                "pcscd", .fail, "pcscd is not installed (SCARD_E_NO_SERVICE)", evidence: ev,
                fix: "apt-get install pcscd libccid")
        }
        if socket {
            return Finding(
                "pcscd", .pass,
                "pcscd is reachable" + (enabled ? " (socket-activated: no pcscd process while idle is normal)" : ""),
                evidence: ev)
        }
        if enabled {
            return Finding(
                "pcscd", .warn, "pcscd.socket is enabled but its socket is missing", evidence: ev,
                fix: "systemctl restart pcscd.socket")
        }
        return Finding(
            "pcscd", .fail, "pcscd is installed but neither running nor socket-activated (SCARD_E_NO_SERVICE)",
            evidence: ev,
            fix: "systemctl enable --now pcscd.socket")
    }

    static func polkit(_ s: SystemView, wanted: Bool) -> Finding {
        let policy = s.exists("/usr/share/polkit-1/actions/org.debian.pcsc-lite.policy")
        guard wanted, policy else {
            return Finding(
                "polkit", .pass, policy ? "PC/SC is not used" : "pcscd is not built with polkit (Debian 12's is not)")
        }
        let dirs = ["/etc/polkit-1/rules.d", "/usr/share/polkit-1/rules.d"]
        let rules = dirs.flatMap { d in s.list(d).map { "\(d)/\($0)" } }.filter {
            (s.read($0) ?? "").contains("\"tapd\"") && (s.read($0) ?? "").contains("pcsc")
        }
        if !rules.isEmpty { return Finding("polkit", .pass, "a polkit rule lets tapd use PC/SC", evidence: rules) }
        return Finding(
            "polkit", .fail,
            "pcscd checks polkit and no rule allows user tapd: a system daemon is refused (\"is NOT authorized for action: access_pcsc\")",
            evidence: ["policy: /usr/share/polkit-1/actions/org.debian.pcsc-lite.policy"],
            fix:
                "add /etc/polkit-1/rules.d/60-tapd-pcsc.rules: polkit.addRule(function(action, subject) { if ((action.id == \"org.debian.pcsc-lite.access_pcsc\" || action.id == \"org.debian.pcsc-lite.access_card\") && subject.user == \"tapd\") return polkit.Result.YES; });"
        )
    }

    // MARK: USB readers (§5 rows 2, 3, 6, 13, 14, 16)

    /// The USB devices under the tree's /sys/bus/usb/devices, without root hubs and interfaces.
    public static func usbDevices(_ s: SystemView) -> [USBDevice] {
        let base = "/sys/bus/usb/devices"
        return s.list(base).filter { !$0.contains(":") && !$0.hasPrefix("usb") }.compactMap { name in
            let d = "\(base)/\(name)"
            guard let v = s.attribute("\(d)/idVendor").flatMap({ UInt16($0, radix: 16) }),
                let p = s.attribute("\(d)/idProduct").flatMap({ UInt16($0, radix: 16) })
            else { return nil }
            let drivers = USBInventory.interfaceDrivers(path: name, sysfs: s.path(base))
            return USBDevice(
                path: name, vendorID: v, productID: p,
                bcdDevice: s.attribute("\(d)/bcdDevice").flatMap { UInt16($0, radix: 16) },
                product: s.attribute("\(d)/product"), bus: Int(s.attribute("\(d)/busnum") ?? "") ?? 0,
                address: Int(s.attribute("\(d)/devnum") ?? "") ?? 0, interfaceDrivers: drivers)
        }
    }

    /// The CCID driver's supported ids and options (Info.plist).
    static func ccidInfo(_ s: SystemView) -> (ids: Set<String>, options: Int)? {
        guard let data = s.data("/usr/lib/pcsc/drivers/ifd-ccid.bundle/Contents/Info.plist"),
            let d = try? PropertyListSerialization.propertyList(from: data, format: nil) as? [String: Any]
        else { return nil }
        let vids = d["ifdVendorID"] as? [String] ?? []
        let pids = d["ifdProductID"] as? [String] ?? []
        let ids = Set(
            zip(vids, pids).compactMap { v, p -> String? in
                guard let v = UInt16(v.dropFirst(2), radix: 16), let p = UInt16(p.dropFirst(2), radix: 16) else {
                    return nil
                }
                return String(format: "%04x:%04x", v, p)
            })
        let opts = (d["ifdDriverOptions"] as? String).flatMap { Int($0.dropFirst(2), radix: 16) } ?? 0
        return (ids, opts)
    }

    static func ccidDriver(_ s: SystemView, devices: [USBDevice]) -> [Finding] {
        guard let info = ccidInfo(s) else {
            let needed = devices.contains {
                USBInventory.known(vendorID: $0.vendorID, productID: $0.productID)?.stacks.contains(.pcsc) == true
            }
            return [
                Finding(
                    "CCID driver", needed ? .fail : .warn, "libccid (the CCID driver pcscd uses) is not installed",
                    evidence: ["/usr/lib/pcsc/drivers/ifd-ccid.bundle/Contents/Info.plist missing"],
                    fix: "apt-get install libccid")
            ]
        }
        var out = [
            Finding(
                "CCID driver", .pass,
                "libccid lists \(info.ids.count) readers; ifdDriverOptions 0x\(String(format: "%04X", info.options))")
        ]
        let acs = devices.filter { $0.vendorID == 0x072F && [0x223B, 0x223E, 0x2259, 0x2200].contains($0.productID) }
        if !acs.isEmpty, info.options & 0x0001 == 0 {
            out.append(
                Finding(
                    "reader escapes", .warn,
                    "libccid refuses escape commands: the ACS reader's LEDs and buzzer stay under its own control (SCARD_E_NOT_TRANSACTED)",
                    evidence: [
                        "ifdDriverOptions 0x\(String(format: "%04X", info.options)) lacks 0x0001 DRIVER_OPTION_CCID_EXCHANGE_AUTHORIZED"
                    ],
                    fix:
                        "set <key>ifdDriverOptions</key><string>0x0001</string> in /etc/libccid_Info.plist (or the bundle's Info.plist), then restart pcscd"
                ))
        }
        return out
    }

    static func readers(_ s: SystemView, devices: [USBDevice], configuration: TapdConfiguration?) -> [Finding] {
        let known = devices.compactMap { d in
            USBInventory.known(vendorID: d.vendorID, productID: d.productID).map { (d, $0) }
        }
        let libnfcWanted = !(configuration?.readers.libnfc.isEmpty ?? true)
        if known.isEmpty {
            let serialOnly =
                configuration?.readers.libnfc.allSatisfy { NFCReader.serialPort(of: $0) != nil } == true && libnfcWanted
            let others = devices.map { "\($0.id) \($0.product ?? "")" }
            return [
                Finding(
                    "USB readers", serialOnly ? .pass : .fail,
                    serialOnly
                        ? "no USB NFC reader (the configured reader is on a UART)"
                        : "no known NFC reader is plugged in (SCARD_E_NO_READERS_AVAILABLE)",
                    evidence: others.isEmpty ? ["no USB devices"] : ["USB devices: " + others.joined(separator: ", ")],
                    fix: serialOnly
                        ? nil
                        : "plug the reader in (check the cable and a powered port); an unknown reader: see Firmware-Notes/README.md for the ones tapd knows"
                )
            ]
        }
        let ccid = ccidInfo(s)?.ids ?? []
        return known.map { d, r in
            var ev = ["\(r.name) \(d.id) at USB \(d.path) (\(d.devNode))"]
            if let b = d.bcdDevice { ev.append(String(format: "bcdDevice %x.%02x", b >> 8, b & 0xFF)) }
            ev.append(
                "interface drivers: \(d.interfaceDrivers.isEmpty ? "none" : d.interfaceDrivers.joined(separator: ", "))"
            )
            ev.append("stacks that can drive it: \(r.stacks.map(\.rawValue).joined(separator: ", "))")
            // §5 row 6: ACR122U firmware below 2.06 is refused by libccid.
            if d.vendorID == 0x072F, d.productID == 0x2200, let b = d.bcdDevice, b < 0x0206,
                configuration?.readers.pcsc ?? true
            {
                return Finding(
                    "reader \(d.id)", .fail,
                    "ACR122U firmware \(String(format: "%x.%02x", b >> 8, b & 0xFF)) is refused by libccid (\"Firmware is bogus! Upgrade the reader firmware\")",
                    evidence: ev,
                    fix:
                        "drive it through libnfc instead (readers.libnfc = [\"acr122_usb\"], and PCSCLITE_FILTER_IGNORE_READER_NAMES=ACR122U for pcscd), or replace the reader"
                )
            }
            // §5 row 13: ACR122U 2.15/2.16 time out with direct-USB drivers.
            if d.vendorID == 0x072F, d.productID == 0x2200, let b = d.bcdDevice, b >= 0x0215, libnfcWanted {
                return Finding(
                    "reader \(d.id)", .warn,
                    "ACR122U firmware 2.15+ is known to time out with libnfc's direct-USB driver",
                    evidence: ev, fix: "use it through pcscd (readers.pcsc = true, no libnfc entry for it)")
            }
            // §5 row 14: a PC/SC-only reader configured for libnfc.
            if libnfcWanted, !r.stacks.contains(.libnfc),
                configuration?.readers.libnfc.contains(where: { $0.hasPrefix("usb") || $0.hasSuffix("_usb") }) == true
            {
                return Finding(
                    "reader \(d.id)", .fail, "\(r.name) cannot be driven by libnfc (\"No NFC device found\")",
                    evidence: ev,
                    fix: "remove the libnfc entry and use PC/SC (readers.pcsc = true)")
            }
            if r.stacks.contains(.pcsc), !r.stacks.contains(.libnfc), !ccid.isEmpty, !ccid.contains(d.id) {
                return Finding(
                    "reader \(d.id)", .fail, "the installed CCID driver does not list \(d.id)", evidence: ev,
                    fix: "upgrade libccid (or install the vendor's driver)")
            }
            // §5 row 16: USB persist breaks readers after suspend.
            if r.stacks.contains(.pcsc), s.attribute("/sys/bus/usb/devices/\(d.path)/power/persist") == "1" {
                return Finding(
                    "reader \(d.id)", .warn, "USB persist is on: the reader may be unusable after suspend/resume",
                    evidence: ev + ["power/persist = 1"],
                    fix: "echo 0 > /sys/bus/usb/devices/\(d.path)/power/persist (libccid ≥ 1.5.3's udev rule does it)")
            }
            return Finding("reader \(d.id)", .pass, "\(r.name) is present", evidence: ev)
        }
    }

    // MARK: Kernel and holders (§5 row 3)

    static func kernelModules(_ s: SystemView, devices: [USBDevice]) -> Finding {
        let loaded = ["nfc", "pn533", "pn533_usb"].filter { s.exists("/sys/module/\($0)") }
        let confs = ["/etc/modprobe.d", "/lib/modprobe.d", "/usr/lib/modprobe.d"].flatMap { d in
            s.list(d).map { "\(d)/\($0)" }
        }
        let blacklisted = confs.contains {
            (s.read($0) ?? "").split(separator: "\n").contains {
                $0.trimmingCharacters(in: .whitespaces) == "blacklist pn533_usb"
            }
        }
        let held = devices.filter { $0.interfaceDrivers.contains { $0.hasPrefix("pn533") } }
        var ev = [
            "loaded: \(loaded.isEmpty ? "none" : loaded.joined(separator: ", "))",
            "pn533_usb blacklisted: \(blacklisted)",
        ]
        ev += held.map { "\($0.id) at \($0.path) is bound to \($0.interfaceDrivers.joined(separator: ", "))" }
        if !held.isEmpty {
            return Finding(
                "kernel NFC driver", .fail,
                "the kernel's pn533_usb holds the reader: pcscd and libnfc get \"resource busy\"", evidence: ev,
                fix:
                    "install Udev/tapd-blacklist.conf as /etc/modprobe.d/, run `modprobe -r pn533_usb pn533 nfc`, then replug the reader"
            )
        }
        if !loaded.isEmpty && !blacklisted {
            return Finding(
                "kernel NFC driver", .warn,
                "the kernel NFC modules are loaded and not blacklisted: they will take a PN533-based reader at plug-in",
                evidence: ev,
                fix: "install Udev/tapd-blacklist.conf as /etc/modprobe.d/tapd-blacklist.conf")
        }
        return Finding("kernel NFC driver", .pass, "the kernel's NFC stack leaves the readers alone", evidence: ev)
    }

    /// Processes holding a device node, from /proc/*/fd (§5 row 3: "who holds it").
    public static func holders(_ s: SystemView, node: String) -> [String] {
        s.list("/proc").filter { Int($0) != nil }.compactMap { pid in
            let fds = s.list("/proc/\(pid)/fd")
            guard fds.contains(where: { s.link("/proc/\(pid)/fd/\($0)") == node }) else { return nil }
            return "\(s.attribute("/proc/\(pid)/comm") ?? "?") (pid \(pid))"
        }
    }

    // MARK: Permissions (§5 rows 4, 15)

    static func permissions(_ s: SystemView, devices: [USBDevice], configuration: TapdConfiguration?) -> [Finding] {
        guard let tapd = s.account("tapd") else { return [] }
        var out: [Finding] = []
        for d in devices {
            guard let r = USBInventory.known(vendorID: d.vendorID, productID: d.productID), r.stacks.contains(.libnfc)
            else { continue }
            let holders = Self.holders(s, node: d.devNode)
            var ev = [
                "\(d.devNode): "
                    + (s.owner(d.devNode).map { String(format: "mode %o, uid %d, gid %d", $0.mode, $0.uid, $0.gid) }
                        ?? "missing")
            ]
            if !holders.isEmpty { ev.append("held by: " + holders.joined(separator: ", ")) }
            if d.interfaceDrivers.contains("usbfs"), !holders.contains(where: { $0.hasPrefix("tapd") }) {
                out.append(
                    Finding(
                        "access \(d.id)", .fail, "another program holds \(r.name)", evidence: ev,
                        fix: "stop it (shown above); one stack per reader"))
            } else if !s.canReadWrite(tapd, d.devNode) {
                out.append(
                    Finding(
                        "access \(d.id)", .fail, "user tapd cannot open \(d.devNode) (\"Permission denied\")",
                        evidence: ev,
                        fix:
                            "install Udev/94-tapd.rules as /etc/udev/rules.d/94-tapd.rules, `udevadm control --reload && udevadm trigger`, replug"
                    ))
            } else {
                out.append(Finding("access \(d.id)", .pass, "user tapd can open \(d.devNode)", evidence: ev))
            }
        }
        let rules = ["/lib/udev/rules.d", "/usr/lib/udev/rules.d", "/etc/udev/rules.d"].flatMap { d in
            s.list(d).map { "\(d)/\($0)" }
        }
        if rules.contains(where: { $0.hasSuffix("93-pn53x.rules") }) && s.groupID("plugdev") == nil {
            out.append(
                Finding(
                    "group plugdev", .warn,
                    "libnfc's udev rule names group plugdev, which does not exist (\"Unknown group 'plugdev', ignoring\")",
                    evidence: rules.filter { $0.hasSuffix("93-pn53x.rules") },
                    fix: "harmless for tapd (94-tapd.rules sets group tapd); groupadd -r plugdev silences it"))
        }
        return out
    }

    static func udevRules(_ s: SystemView) -> Finding {
        let dirs = ["/etc/udev/rules.d", "/lib/udev/rules.d", "/usr/lib/udev/rules.d", "/usr/local/lib/udev/rules.d"]
        let found = dirs.flatMap { d in s.list(d).filter { $0 == "94-tapd.rules" }.map { "\(d)/\($0)" } }
        let others = dirs.flatMap { d in
            s.list(d).filter { $0.contains("pn53x") || $0.contains("ccid") }.map { "\(d)/\($0)" }
        }
        if found.isEmpty {
            return Finding(
                "udev rules", .warn, "tapd's udev rule is not installed: libnfc USB readers stay root-only",
                evidence: others,
                fix: "make install (or copy Udev/94-tapd.rules to /etc/udev/rules.d/) and `udevadm control --reload`")
        }
        return Finding("udev rules", .pass, "tapd's udev rule is installed", evidence: found + others)
    }

    // MARK: libnfc (§5 rows 11, 12)

    static func libnfcDevices(_ s: SystemView, configuration: TapdConfiguration?) -> [Finding] {
        guard let c = configuration else { return [] }
        let tapd = s.account("tapd")
        return c.readers.libnfc.compactMap { connstring in
            guard let port = NFCReader.serialPort(of: connstring) else { return nil }
            guard s.exists(port) else {
                let candidates = s.list("/dev").filter {
                    $0.hasPrefix("ttyUSB") || $0.hasPrefix("ttyACM") || $0.hasPrefix("ttyAMA") || $0.hasPrefix("serial")
                }
                return Finding(
                    "libnfc \(connstring)", .fail, "\(port) does not exist (libnfc: \"Unable to open\")",
                    evidence: [
                        "serial ports: \(candidates.isEmpty ? "none" : candidates.map { "/dev/\($0)" }.joined(separator: ", "))"
                    ],
                    fix:
                        "check the USB-UART adapter and its cable; on a Raspberry Pi enable the UART (raspi-config); put the right port in readers.libnfc"
                )
            }
            if let tapd, !s.canReadWrite(tapd, port) {
                return Finding(
                    "libnfc \(connstring)", .fail, "user tapd cannot open \(port)",
                    evidence: [s.owner(port).map { String(format: "mode %o, gid %d", $0.mode, $0.gid) } ?? ""],
                    fix:
                        "add tapd to the port's group (usually dialout: SupplementaryGroups=dialout in tapd.service, `m tapd dialout` in sysusers)"
                )
            }
            return Finding(
                "libnfc \(connstring)", .pass, "\(port) exists and tapd may open it",
                evidence: [
                    "a PN532 that does not answer: board in I2C/SPI mode, TX/RX swapped, or wrong baud (`LIBNFC_LOG_LEVEL=3 nfc-list` shows the step)"
                ])
        }
    }

    /// libnfc's own configuration (/etc/nfc/libnfc.conf, /etc/nfc/devices.d/*.conf): devices named there are not
    /// used by tapd unless they are also in readers.libnfc; intrusive scanning probes every serial port.
    static func libnfcConfiguration(_ s: SystemView, configuration: TapdConfiguration?) -> Finding {
        let files =
            (s.exists("/etc/nfc/libnfc.conf") ? ["/etc/nfc/libnfc.conf"] : [])
            + s.list("/etc/nfc/devices.d").filter { $0.hasSuffix(".conf") }.map { "/etc/nfc/devices.d/\($0)" }
        var devices: [String] = []
        var intrusive = false
        for f in files {
            for raw in (s.read(f) ?? "").split(separator: "\n") {
                let line = raw.trimmingCharacters(in: .whitespaces)
                guard !line.hasPrefix("#"), let eq = line.firstIndex(of: "=") else { continue }
                let key = line[..<eq].trimmingCharacters(in: .whitespaces)
                let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces).trimmingCharacters(
                    in: CharacterSet(charactersIn: "\""))
                if key.hasSuffix("connstring") { devices.append(value) }
                if key == "allow_intrusive_scan", value == "true" { intrusive = true }
            }
        }
        let used = configuration?.readers.libnfc ?? []
        let ev = files.isEmpty ? ["no libnfc configuration files"] : files + devices.map { "device: \($0)" }
        if intrusive {
            return Finding(
                "libnfc configuration", .warn, "libnfc's intrusive scan is on: it writes to every serial port it finds",
                evidence: ev,
                fix:
                    "set allow_intrusive_scan = false in /etc/nfc/libnfc.conf; tapd names its devices in readers.libnfc"
            )
        }
        let unused = devices.filter { !used.contains($0) }
        if !unused.isEmpty {
            return Finding(
                "libnfc configuration", .warn, "libnfc.conf names devices tapd does not use", evidence: ev,
                fix: "add them to readers.libnfc in tapd.toml if tapd should drive them")
        }
        return Finding("libnfc configuration", .pass, "libnfc configuration agrees with tapd's", evidence: ev)
    }

    // MARK: Keys, clock, journal

    static func caKeys(_ s: SystemView, configuration: TapdConfiguration?, now: Date) -> Finding {
        let keys: CAKeyStore
        let replaced: [CAKeyID]
        do {
            (keys, replaced) = try CAKeyStore.terminal(
                includeTestKeys: configuration?.terminal.testKeys ?? false,
                operatorFile: configuration?.terminal.caKeys, read: { s.read($0) })
        } catch let error as CAKeyFileUnreadable {
            return Finding("CA keys", .fail, error.description, fix: "check terminal.ca_keys")
        } catch {
            return Finding(
                "CA keys", .fail, "a CA key file is broken", evidence: ["\(error)"],
                fix: "reinstall tapd's CA keys; check terminal.ca_keys line by line (`tapctl capk verify FILE`)")
        }
        let all = keys.keys.values.sorted { $0.label < $1.label }
        let sm2 = keys.sm2Keys.values.sorted { $0.label < $1.label }
        let test = all.filter(\.isTest).map(\.label) + sm2.filter(\.isTest).map(\.label)
        let today = EMVDate(utcSeconds: Int(now.timeIntervalSince1970))
        func hasExpired(_ e: EMVDate?) -> Bool {
            guard let e, let t = today else { return false }
            return e < t
        }
        let expired =
            all.filter { hasExpired($0.expiry) }.map { "\($0.label) (\(CAKeyID(rid: $0.rid, index: $0.index)))" }
            + sm2.filter { hasExpired($0.expiry) }.map { "\($0.label) (\(CAKeyID(rid: $0.rid, index: $0.index)))" }
        var ev = [
            "\(all.count + sm2.count) keys\(sm2.isEmpty ? "" : " (\(sm2.count) SM2)"), checksums verified",
            "fingerprint \(keys.fingerprint)",
        ]
        if !replaced.isEmpty {
            ev.append("terminal.ca_keys replaces bundled \(replaced.map(\.description).joined(separator: ", "))")
        }
        ev += expired.map { "expired: \($0)" }
        let productionHost =
            configuration?.acquirer.map { !["127.0.0.1", "localhost", "::1"].contains($0.host) } ?? false
        if !test.isEmpty && productionHost {
            return Finding(
                "CA keys", .fail, "TEST CA keys are trusted on a terminal that talks to a real acquirer",
                evidence: ev + ["\(test.count) test keys"],
                fix: "set terminal.test_keys = false in tapd.toml")
        }
        if !expired.isEmpty {
            return Finding(
                "CA keys", .warn, "\(expired.count) CA key(s) have expired", evidence: ev,
                fix: "update tapd (new key files) or remove them from terminal.ca_keys")
        }
        return Finding(
            "CA keys", .pass, "CA keys load\(test.isEmpty ? "" : " (test keys on: a lab terminal)")", evidence: ev)
    }

    static func clock(_ now: Date) -> Finding {
        let year = Calendar(identifier: .gregorian).component(.year, from: now)
        if year < 2025 || year > 2100 {
            return Finding(
                "clock", .fail,
                "the clock says \(ISO8601DateFormatter().string(from: now)): TLS certificates and EMV dates will be judged wrongly",
                fix: "timedatectl set-ntp true (check the network's NTP reachability)")
        }
        return Finding("clock", .pass, "clock \(ISO8601DateFormatter().string(from: now))")
    }

    static func journal(_ s: SystemView, configuration: TapdConfiguration?) -> [Finding] {
        let path = configuration?.journal.path ?? "/var/lib/tapd/journal.sqlite"
        var out: [Finding] = []
        let dir = (path as NSString).deletingLastPathComponent
        var fs = statvfs()
        if statvfs(s.path(s.exists(dir) ? dir : "/"), &fs) == 0 {
            let freeMB = Double(fs.f_bavail) * Double(fs.f_frsize) / 1_048_576
            let v: Verdict = freeMB < 20 ? .fail : freeMB < 200 ? .warn : .pass
            out.append(
                Finding(
                    "disk", v, String(format: "%.0f MB free for the journal", freeMB), evidence: [dir],
                    fix: v == .pass ? nil : "free space on \(dir): the journal must be able to write before any sale"))
        }
        guard s.exists(path) else {
            out.append(
                Finding("journal", .warn, "no journal yet at \(path)", fix: "it is created on tapd's first start"))
            return out
        }
        do {
            let r = try JournalInspection.inspect(path: s.path(path))
            var ev = [
                "integrity: \(r.integrity)", "store-and-forward: \(r.pending) pending, \(r.quarantined) quarantined",
            ]
            if let oldest = r.oldestPending {
                ev.append("oldest pending since \(ISO8601DateFormatter().string(from: oldest))")
            }
            ev += r.quarantineReasons.map { "quarantined " + $0 }
            if r.integrity != "ok" {
                out.append(
                    Finding(
                        "journal", .fail, "the journal is damaged", evidence: ev,
                        fix: "stop tapd, keep a copy of \(path) for the acquirer's reconciliation, and call support"))
            } else if r.quarantined > 0 {
                out.append(
                    Finding(
                        "journal", .fail,
                        "\(r.quarantined) reversal(s)/advice(s) could not be delivered and wait for an operator",
                        evidence: ev,
                        fix:
                            "`tapctl saf list --status quarantined` shows them; settle each with the acquirer, then `tapctl saf retry ID` or `tapctl saf resolve ID --reason \"…\"`"
                    ))
            } else if r.pending > 0, let oldest = r.oldestPending, Date().timeIntervalSince(oldest) > 3600 {
                out.append(
                    Finding(
                        "journal", .warn, "store-and-forward has a backlog older than an hour", evidence: ev,
                        fix: "check the acquirer link below"))
            } else {
                out.append(Finding("journal", .pass, "journal intact", evidence: ev))
            }
        } catch {
            out.append(
                Finding(
                    "journal", .fail, "the journal cannot be read", evidence: ["\(error)"],
                    fix: "check its permissions (owner tapd, mode 0600)"))
        }
        return out
    }

    static func vpcd(_ s: SystemView, configuration: TapdConfiguration?) -> Finding {
        // A lab terminal talks to an acquirer simulator on loopback; anything else is treated as production.
        let lab = configuration?.acquirer.map { ["127.0.0.1", "localhost", "::1"].contains($0.host) } ?? false
        if configuration?.readers.virtualReaders == true, !lab {
            return Finding(
                "test driver", .fail,
                "virtual (vpcd) readers are turned on in a production configuration: anyone on the network could \"insert a card\"",
                evidence: ["readers.virtual_readers = true", "acquirer \(configuration?.acquirer?.host ?? "-")"],
                fix: "set virtual_readers = false in [readers] of tapd.toml and apt-get purge vsmartcard-vpcd")
        }
        let files = ["/etc/reader.conf.d/vpcd", "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"].filter { s.exists($0) }
        guard !files.isEmpty else { return Finding("test driver", .pass, "no vpcd test driver installed") }
        return Finding(
            "test driver", lab ? .pass : .warn,
            "the vpcd test driver is installed: it listens on the network and lets anyone \"insert a card\"",
            evidence: files, fix: lab ? nil : "apt-get purge vsmartcard-vpcd on a production terminal")
    }
}
