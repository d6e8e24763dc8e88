// The acquirer link, end to end: name resolution, a TCP connection, the TLS handshake with the configured
// certificates (chain, host name and expiry are judged by the same code the daemon uses), and an 0800 echo
// (DE 70 = 301) answered with 00.

import Acquirer
import Foundation
import ISO8583
import TapdCore

extension Diagnostics {
    /// Probes the acquirer as the daemon would: certificate files, DNS, mutual TLS and an 0800/301 echo answered 00.
    /// WARN without an [acquirer] table; `tapdLinkConnected` (tapd's own link state) only adds evidence.
    public static func acquirer(_ configuration: TapdConfiguration?, tapdLinkConnected: Bool? = nil) async -> Finding {
        guard let a = configuration?.acquirer else {
            return Finding(
                "acquirer", .warn, "no [acquirer] table: online sales will fail",
                fix: "add the acquirer's host, port, certificates, terminal_id and merchant_id to tapd.toml")
        }
        var ev = ["\(a.host):\(a.port), profile \(a.profile)"]
        for (what, file) in [
            ("CA", a.caFile), ("client certificate", a.clientCertificateFile), ("client key", a.clientKeyFile),
        ] {
            var st = stat()
            guard stat(file, &st) == 0 else {
                return Finding(
                    "acquirer", .fail, "the \(what) file \(file) is missing", evidence: ev,
                    fix: "install it, or correct the path in [acquirer]")
            }
            if what == "client key", st.st_mode & 0o004 != 0 {
                return Finding(
                    "acquirer", .fail, "the client key \(file) is readable by everyone", evidence: ev,
                    fix: "chmod 600 \(file) (better: LoadCredential= in tapd.service)")
            }
        }
        // DNS.
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        let rv = getaddrinfo(a.host, String(a.port), &hints, &res)
        guard rv == 0, let first = res else {
            return Finding(
                "acquirer", .fail, "\(a.host) does not resolve: \(String(cString: gai_strerror(rv)))", evidence: ev,
                fix: "check DNS (/etc/resolv.conf) and the host name")
        }
        freeaddrinfo(first)
        ev.append("DNS: ok")
        if let tapdLinkConnected { ev.append("tapd's own link: \(tapdLinkConnected ? "connected" : "not connected")") }
        // TLS and echo, with the daemon's own link code.
        var config = a
        config.persistentConnection = false
        config.responseTimeout = min(a.responseTimeout, 10)
        config.connectTimeout = min(a.connectTimeout, 10)
        do {
            let link = try AcquirerLink(configuration: config)
            let stan = String(format: "%06d", Int.random(in: 900_000...999_999))
            let started = ContinuousClock.now
            let answer = try await link.exchangeOrThrow(
                Messages.networkManagement(code: "301", terminal: config.identity, stan: stan))
            let ms =
                Double((ContinuousClock.now - started).components.attoseconds) / 1e15 + Double(
                    (ContinuousClock.now - started).components.seconds) * 1000
            await link.close()
            ev.append("TLS handshake: ok (mutual, CA \(a.caFile))")
            ev.append(String(format: "echo 0800/301 → %@ %@ in %.0f ms", answer.mti, answer[39] ?? "no DE 39", ms))
            guard answer.mti == "0810", answer[39] == "00" else {
                return Finding(
                    "acquirer", .warn, "the acquirer answers the echo with \(answer.mti) \(answer[39] ?? "-")",
                    evidence: ev, fix: "ask the acquirer whether this terminal (DE 41 \(a.terminalID)) is set up")
            }
            return Finding("acquirer", .pass, "the acquirer answers (TLS and echo)", evidence: ev)
        } catch let e as LinkError {
            let fix: String =
                switch e {
                case .connectFailed:
                    "check the network path to \(a.host):\(a.port) (firewall, proxy, the acquirer's address)"
                case .tls:
                    "check the certificates: the acquirer's CA in ca_file, this terminal's certificate and key, their expiry, and the host name in the server certificate"
                case .timeout, .connectionLost:
                    "the acquirer accepted the connection but did not answer: check DE 41/42 and the profile with the acquirer"
                case .invalidMessage: "the profile (\(a.profile)) may not be the acquirer's"
                case .notPersisted: "the journal refused a write: run `tapctl diagnose` on the journal's disk"
                case .tlsSetup:
                    "check that ca_file, client_certificate_file and client_key_file exist and are PEM, and that the key file is the tapd user's, mode 0600"
                case .pinMismatch:
                    "the acquirer's key changed or spki_pin is wrong: compute it from their certificate: openssl x509 -in CERT -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64"
                }
            return Finding("acquirer", .fail, e.description, evidence: ev, fix: fix)
        } catch {
            return Finding("acquirer", .fail, "\(error)", evidence: ev, fix: "check the [acquirer] table")
        }
    }
}
