// A real pcscd (1.9.9 on Debian 12) with the vpcd driver for tests, in private mount and network namespaces (its own
// /run/pcscd, its own loopback for vpcd's ports), so it never meets a system pcscd; test processes reach its socket
// through /proc/PID/root (PCSCLITE_CSOCK_NAME), and virtual cards are served to it by `tapd-vicc` inside its network
// namespace. Needs root for the namespaces (CI runs as root); elsewhere the tests that use it are skipped.

import EMVCrypto
import EMVKernel
import Foundation
import TLV
import XCTest

public final class PCSCLab: Sendable {
    public let directory: String
    let pcscd: Process
    public let pid: Int32
    public static let shared = Result { try PCSCLab() }

    init() throws {
        guard getuid() == 0 else { throw XCTSkip("the pcscd lab needs root for its namespaces (CI runs as root)") }
        directory = NSTemporaryDirectory() + "tapd-pcsc-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory + "/reader.conf.d", withIntermediateDirectories: true)
        try """
        FRIENDLYNAME "Virtual PCD"
        DEVICENAME   /dev/null:0x8C7B
        LIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so
        CHANNELID    0x8C7B

        """.write(toFile: directory + "/reader.conf.d/vpcd", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: "/run/pcscd", withIntermediateDirectories: true)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        // pcscd lives as long as this test process: the namespace's shell watches it and then stops whichever
        // pcscd is current (a restart test replaces it). The shell's pid gives the namespace's paths.
        p.arguments = [
            "--mount", "--net", "--fork", "/bin/sh", "-c",
            "mount -t tmpfs tmpfs /run/pcscd && ip link set lo up || exit 1; "
                + "/usr/sbin/pcscd --foreground --debug --apdu --config \(directory)/reader.conf.d > \(directory)/pcscd.log 2>&1 & "
                + "echo $! > \(directory)/pcscd.pid; echo $$ > \(directory)/pid; "
                + "while kill -0 \(getpid()) 2>/dev/null; do sleep 0.5; done; "
                + "P=$(cat \(directory)/pcscd.pid); kill $P; sleep 1; kill -9 $P 2>/dev/null; rm -rf \(directory)",
        ]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        pcscd = p
        let deadline = Date().addingTimeInterval(10)
        var found: Int32 = 0
        while Date() < deadline {
            if let s = try? String(contentsOfFile: directory + "/pid", encoding: .utf8),
                let n = Int32(s.trimmingCharacters(in: .whitespacesAndNewlines)),
                FileManager.default.fileExists(atPath: "/proc/\(n)/root/run/pcscd/pcscd.comm")
            {
                found = n
                break
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        guard found > 0 else {
            throw NSError(domain: "PCSCLab", code: 1, userInfo: [NSLocalizedDescriptionKey: "pcscd did not start"])
        }
        pid = found
        // pcsc-lite's client reads the socket path once, from PCSCLITE_CSOCK_NAME.
        setenv("PCSCLITE_CSOCK_NAME", "/proc/\(found)/root/run/pcscd/pcscd.comm", 1)
    }

    /// Stops pcscd (SIGTERM, as systemd would) and waits until it is gone.
    public func stopPCSCD() throws {
        let pid = try String(contentsOfFile: directory + "/pcscd.pid", encoding: .utf8).trimmingCharacters(
            in: .whitespacesAndNewlines)
        guard let n = Int32(pid) else { return }
        kill(n, SIGTERM)
        let deadline = Date().addingTimeInterval(10)
        while kill(n, 0) == 0, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
    }

    /// Starts a new pcscd in the same namespaces.
    public func startPCSCD() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        p.arguments = [
            "--target", String(pid), "--mount", "--net", "/usr/sbin/pcscd", "--foreground", "--debug", "--config",
            directory + "/reader.conf.d",
        ]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        try String(p.processIdentifier).write(toFile: directory + "/pcscd.pid", atomically: true, encoding: .utf8)
    }

    /// Starts `tapd-vicc` inside pcscd's network namespace; returns the process and the CA key it trusts.
    public func insert(_ profile: String, port: Int = 35963, persona: String? = nil) throws -> (Process, CAKeyStore) {
        let vicc = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
            "tapd-vicc"
        ).path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        p.arguments = ["--net=/proc/\(pid)/ns/net", vicc, profile, String(port)] + (persona.map { [$0] } ?? [])
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        // First line: "CA RID INDEX EXPONENT MODULUS".
        var line = [UInt8]()
        while let b = try out.fileHandleForReading.read(upToCount: 1), let c = b.first, c != 0x0A { line.append(c) }
        let f = String(decoding: line, as: UTF8.self).split(separator: " ").map(String.init)
        guard f.count == 5, f[0] == "CA", let rid = [UInt8](hex: f[1]), let idx = [UInt8](hex: f[2]),
            let m = [UInt8](hex: f[4])
        else {
            throw NSError(domain: "PCSCLab", code: 2, userInfo: [NSLocalizedDescriptionKey: "tapd-vicc said no CA"])
        }
        var keys = try CAKeyStore.bundled(includeTestKeys: true)
        if f[3] == "SM2" {
            try keys.addSM2(rid: rid, index: idx[0], key: try .init(point: m), label: "vicc SM2 test CA", isTest: true)
            return (p, keys)
        }
        guard let e = [UInt8](hex: f[3]) else {
            throw NSError(domain: "PCSCLab", code: 2, userInfo: [NSLocalizedDescriptionKey: "tapd-vicc said no CA"])
        }
        try keys.add(
            rid: rid, index: idx[0], key: try RSAPublicKey(modulus: m, exponent: e), label: "vicc test CA", isTest: true
        )
        return (p, keys)
    }
}
