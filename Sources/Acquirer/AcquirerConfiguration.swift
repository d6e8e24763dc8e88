// How to reach the acquirer and what to send it. Every key has a default except the ones that identify the
// acquirer and the terminal; the daemon's configuration file carries the same keys.
import Foundation
import ISO8583

public struct AcquirerConfiguration: Sendable, Codable {
    public var host: String
    public var port: Int
    /// PEM files: the acquirer's CA (the only trust root), this terminal's client certificate and key.
    public var caFile: String
    public var clientCertificateFile: String
    public var clientKeyFile: String
    /// Optional pin: base64 SHA-256 of the server certificate's SubjectPublicKeyInfo.
    public var spkiPin: String?
    /// "iso87-ascii" or "iso87-bcd".
    public var profile: String = "iso87-ascii"
    public var connectTimeout: Double = 10
    /// How long to wait for an answer before the request counts as unanswered (and is reversed).
    public var responseTimeout: Double = 30
    /// true: one connection kept open with echo on idle; false: a connection per transaction.
    public var persistentConnection: Bool = true
    public var echoInterval: Double = 60
    public var terminalID: String
    public var merchantID: String
    public var acquirerInstitutionID: String?
    public var nii: String?
    /// "0200" (financial) or "0100" (authorisation).
    public var requestMTI: String = "0200"
    /// "0400" (reversal request) or "0420" (reversal advice); repeats use origin 1 (0401 / 0421).
    public var reversalMTI: String = "0400"
    /// Send a sign-on (0800, DE 70 = 001) on each new connection before any other message.
    public var signOn: Bool = false
    /// Deliver queued reversals and advices before a new online request.
    public var drainBeforeOnline: Bool = true
    /// Store-and-forward: an entry older than this is quarantined; one rejected this often too.
    public var safExpiry: Double = 86_400
    public var safMaxAttempts: Int = 100
    /// Answers that mean "try again later" rather than "received" (jPOS-EE SAF retry-response-codes).
    public var safRetryResponseCodes: [String] = ["91", "96"]

    public init(host: String, port: Int, caFile: String, clientCertificateFile: String, clientKeyFile: String,
                terminalID: String, merchantID: String) {
        self.host = host; self.port = port; self.caFile = caFile; self.clientCertificateFile = clientCertificateFile
        self.clientKeyFile = clientKeyFile; self.terminalID = terminalID; self.merchantID = merchantID
    }

    public var identity: TerminalIdentity {
        TerminalIdentity(terminalID: terminalID, merchantID: merchantID, acquirerInstitutionID: acquirerInstitutionID, nii: nii)
    }

    public var spec: MessageSpec? { MessageSpec.named(profile) }
}
