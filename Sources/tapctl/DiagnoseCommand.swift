// tapctl diagnose: the technician's command. Works whether tapd runs or not: when it runs, readers are asked
// through its socket instead of being opened from here.
import ArgumentParser
import ControlAPI
import Diagnostics
import EMVKernel
import Foundation
import Readers
import TLV
import TapdCore

struct Diagnose: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check this terminal and name each fault with its fix.",
        discussion: """
            Each check prints PASS, WARN or FAIL with what it looked at and the fix. The exit code is 0 when everything
            passes, 1 with warnings, 2 with a failure. --bundle writes a support archive (configuration, masked logs,
            versions, the report).
            """)

    @Option(help: "tapd's configuration file.") var config = "/etc/tapd/tapd.toml"
    @Option(help: "tapd's API socket (default: the configuration's).") var socket: String?
    @Flag(help: "Print the report as JSON (schema tapd-diagnose/1: see --schema).") var json = false
    @Flag(help: "Print the JSON Schema of the --json report and exit.") var schema = false
    @Option(help: "Write a support archive (.tar.gz) to this file.") var bundle: String?
    @Flag(help: "Skip the acquirer link test (DNS, TCP, TLS, echo).") var offline = false
    @Option(help: "RF test: wait this many seconds for a card or phone and talk to it (only while tapd is stopped).")
    var tap: Int?
    @Option(help: .hidden) var root = "/"

    func run() async throws {
        if schema {
            print(DiagnoseReport.jsonSchema)
            return
        }
        var input = DiagnoseInput()
        input.system = SystemView(root: root)
        let configFile = root == "/" ? config : input.system.path(config)
        if FileManager.default.fileExists(atPath: configFile) {
            do { input.configuration = try TapdConfiguration.load(file: configFile) } catch {
                input.configurationError = "\(error)"
            }
        }
        // Ask tapd when it runs.
        let socketPath = socket ?? input.configuration?.daemon.socket ?? "/run/tapd/api.sock"
        var linkConnected: Bool?
        if root == "/", let r = try? await APIClient(socketPath: socketPath).get("/v1/status"), r.status == 200,
            let st = try? APIClient.decode(APIStatus.self, r)
        {
            input.tapdStatus = [
                "version": st.version, "state": st.state, "saf_depth": String(st.safDepth),
                "saf_quarantined": String(st.safQuarantined), "active_transactions": String(st.activeTransactions),
            ]
            input.tapdReaders = st.readers.map { ($0.name, $0.state.rawValue, $0.lastError) }
            linkConnected = st.acquirer.connected
        }
        var findings = Diagnostics.run(input)
        let readerConfig = input.configuration?.readers ?? ReaderManagerConfiguration()
        if root == "/", input.tapdStatus == nil, readerConfig.pcsc {
            findings.append(await Diagnostics.livePCSC())
        }
        if let tap {
            if input.tapdStatus != nil {
                findings.append(
                    Finding(
                        "RF test", .warn, "tapd is running and owns the readers",
                        fix: "stop tapd for the RF test, or make a sale: tapctl sale 0.01 --wait"))
            } else {
                if !json {
                    FileHandle.standardError.write(Data("RF test: present a card or phone within \(tap) s…\n".utf8))
                }
                findings.append(await Diagnostics.rfTest(readerConfig, seconds: max(1, min(tap, 120))))
            }
        }
        if !offline, root == "/" || input.configuration?.acquirer != nil {
            findings.append(await Diagnostics.acquirer(input.configuration, tapdLinkConnected: linkConnected))
        }
        if json {
            let e = JSONEncoder()
            e.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try e.encode(DiagnoseReport(findings: findings)), as: UTF8.self))
        } else {
            print(Self.render(findings))
        }
        if let bundle { try writeBundle(bundle, findings: findings, configFile: configFile) }
        switch Diagnostics.worst(findings) {
        case .pass: return
        case .warn: throw ExitCode(1)
        case .fail: throw ExitCode(2)
        }
    }

    static func render(_ findings: [Finding]) -> String {
        var lines: [String] = []
        for f in findings {
            lines.append("\(f.verdict.rawValue)  \(f.check): \(f.summary)")
            for e in f.evidence where !e.isEmpty { lines.append("        \(e)") }
            if let fix = f.fix, f.verdict != .pass { lines.append("        fix: \(fix)") }
        }
        let counts = [Verdict.pass, .warn, .fail].map { v in
            "\(findings.filter { $0.verdict == v }.count) \(v.rawValue)"
        }
        lines.append("")
        lines.append(counts.joined(separator: ", "))
        return lines.joined(separator: "\n")
    }

    func writeBundle(_ path: String, findings: [Finding], configFile: String) throws {
        let dir = NSTemporaryDirectory() + "tapd-support-\(UUID().uuidString.prefix(8))"
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/tapd-support", withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: dir) }
        let d = dir + "/tapd-support"
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        try e.encode(DiagnoseReport(findings: findings)).write(to: URL(fileURLWithPath: d + "/report.json"))
        try Self.render(findings).write(toFile: d + "/report.txt", atomically: true, encoding: .utf8)
        if let text = try? String(contentsOfFile: configFile, encoding: .utf8) {
            // Nothing secret lives in tapd.toml (keys are files), but pins and paths to key material are blanked anyway.
            let redacted = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
                let key = line.split(separator: "=").first?.trimmingCharacters(in: .whitespaces) ?? ""
                return ["spki_pin", "client_key_file", "key_file"].contains(key)
                    ? "\(key) = \"(removed)\"" : String(line)
            }.joined(separator: "\n")
            try redacted.write(toFile: d + "/tapd.toml", atomically: true, encoding: .utf8)
        }
        var versions = ["tapctl \(TapdVersion.string)", "libnfc \(NFCContext.version)"]
        versions += [["/usr/sbin/pcscd", "--version"], ["/usr/bin/uname", "-a"]].compactMap { Self.output($0) }
        try versions.joined(separator: "\n").write(toFile: d + "/versions.txt", atomically: true, encoding: .utf8)
        if let log = Self.output(["/usr/bin/journalctl", "-u", "tapd", "-u", "pcscd", "-n", "5000", "--no-pager"]) {
            try Diagnostics.maskCardData(log).write(toFile: d + "/journal.txt", atomically: true, encoding: .utf8)
        }
        guard
            let tar = Self.output(
                [
                    "/usr/bin/tar", "-czf",
                    (path as NSString).standardizingPath.hasPrefix("/") ? path : fm.currentDirectoryPath + "/" + path,
                    "-C", dir, "tapd-support",
                ], status: true),
            tar == "0"
        else { throw failure("could not write \(path)", exitCode: 2) }
        FileHandle.standardError.write(Data("support archive written to \(path)\n".utf8))
    }

    /// A command's output (or its exit status), nil when it cannot run.
    static func output(_ argv: [String], status: Bool = false) -> String? {
        guard FileManager.default.isExecutableFile(atPath: argv[0]) else { return nil }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        p.standardInput = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return status ? String(p.terminationStatus) : String(decoding: data, as: UTF8.self)
    }
}
