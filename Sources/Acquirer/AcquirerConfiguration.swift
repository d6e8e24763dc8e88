// How to reach the acquirer and what to send it. Every key has a default except the ones that identify the
// acquirer and the terminal; the daemon's configuration file carries the same keys.
import Foundation
import ISO8583

/// The `[acquirer]` table of tapd.toml: how to reach the acquirer over TLS and what to send it.
public struct AcquirerConfiguration: Sendable, Decodable, Equatable {
    /// The acquirer's host name or IP address (`[acquirer] host`); a host name is checked against its certificate.
    public var host: String
    /// The acquirer's TCP port, 1–65535 (`[acquirer] port`).
    public var port: Int
    /// PEM files: the acquirer's CA (the only trust root), this terminal's client certificate and key.
    public var caFile: String
    /// PEM file with this terminal's TLS client certificate (`[acquirer] client_certificate_file`).
    public var clientCertificateFile: String
    /// PEM file with the client certificate's private key (`[acquirer] client_key_file`): a regular file owned
    /// by tapd's user or root, mode 0600 or 0400.
    public var clientKeyFile: String
    /// Optional pin: base64 SHA-256 of the server certificate's SubjectPublicKeyInfo.
    public var spkiPin: String?
    /// "iso87-ascii" or "iso87-bcd".
    public var profile: String = "iso87-ascii"
    /// Seconds to wait for the TCP connection to the acquirer (`[acquirer] connect_timeout`, default 10).
    public var connectTimeout: Double = 10
    /// How long to wait for an answer before the request counts as unanswered (and is reversed).
    public var responseTimeout: Double = 30
    /// true: one connection kept open with echo on idle; false: a connection per transaction.
    public var persistentConnection: Bool = true
    /// Seconds the kept connection may be idle before an echo (0800, DE 70 = 301) is sent
    /// (`[acquirer] echo_interval`, default 60); 0 turns echoes off.
    public var echoInterval: Double = 60
    /// The terminal id sent in DE 41, exactly 8 characters (`[acquirer] terminal_id`).
    public var terminalID: String
    /// The merchant id sent in DE 42, exactly 15 characters (`[acquirer] merchant_id`).
    public var merchantID: String
    /// The acquiring institution id sent in DE 32 (`[acquirer] acquirer_institution_id`); nil leaves DE 32 out.
    public var acquirerInstitutionID: String?
    /// The network international identifier sent in DE 24 (`[acquirer] nii`); nil leaves DE 24 out.
    public var nii: String?
    /// "0200" (financial) or "0100" (authorisation).
    public var requestMTI: String = "0200"
    /// "0400" (reversal request) or "0420" (reversal advice); repeats use origin 1 (0401 / 0421).
    public var reversalMTI: String = "0400"
    /// The message a refund goes online as, with processing code 20: "0200" (financial, the default) or "0100"
    /// (authorisation, then captured by a 0220 like a dual-message sale).
    public var refundMTI: String = "0200"
    /// Send a sign-on (0800, DE 70 = 001) on each new connection before any other message.
    public var signOn: Bool = false
    /// Deliver queued reversals and advices before a new online request.
    public var drainBeforeOnline: Bool = true
    /// Store-and-forward: a message still waiting after this many seconds raises an alert (`tapctl diagnose`
    /// warns). Nothing is ever dropped by age: a reversal waits until the acquirer accepts it or an operator
    /// resolves it. (Read from `saf_expiry` too, its name before it stopped dropping messages.)
    public var safAlertAfter: Double = 86_400
    /// Refusals (answers that are neither accepted nor "try again later") before a message is quarantined.
    public var safMaxAttempts: Int = 5
    /// Answers that mean "try again later" rather than "received" (jPOS-EE SAF retry-response-codes).
    public var safRetryResponseCodes: [String] = ["91", "96"]
    /// Answers that mean the acquirer took a reversal, advice or capture.
    public var safAcceptedResponseCodes: [String] = ["00"]
    /// A partial approval (DE 39 10 with a lower DE 4): "accept" completes the sale for the approved amount (the
    /// point of sale collects the rest), "reverse" reverses it and declines the sale.
    public var partialApprovals: String = "reverse"
    /// Store-and-forward backoff: after a failed try the entry waits `safRetryInterval` seconds, doubled after each
    /// further failed try, up to `safRetryMaxInterval`.
    public var safRetryInterval: Double = 15
    /// The longest store-and-forward backoff, in seconds (`[acquirer] saf_retry_max_interval`, default 900).
    public var safRetryMaxInterval: Double = 900
    /// End of day: the field carrying the batch number in 0500 and 0320 (host protocols use a private field; 60 by
    /// default; one of 48, 60, 61, 62, 63).
    public var settlementBatchField: Int = 60
    /// DE 3 of the first reconciliation request.
    public var settlementProcessingCode: String = "920000"
    /// DE 3 of the reconciliation request after a batch upload.
    public var settlementAfterUploadProcessingCode: String = "960000"
    /// Answers to a reconciliation request meaning "out of balance: upload the batch" (commonly 95).
    public var settlementOutOfBalanceCodes: [String] = ["95"]
    /// How the totals count voids: "separate" (in their kind and again in its reversals, DE 75/77 and 87/89) or
    /// "netted" (left out).
    public var settlementReversals: String = "separate"

    /// Seconds before the next try of an entry that has failed `tries` times (tries ≥ 1).
    public func safRetryDelay(afterTries tries: Int) -> Double {
        let exponent = min(max(tries - 1, 0), 30)
        return min(safRetryInterval * Double(1 << exponent), max(safRetryMaxInterval, safRetryInterval))
    }

    /// A configuration with the required keys and every other key at its default; unlike decoding, it checks no value.
    public init(
        host: String, port: Int, caFile: String, clientCertificateFile: String, clientKeyFile: String,
        terminalID: String, merchantID: String
    ) {
        self.host = host
        self.port = port
        self.caFile = caFile
        self.clientCertificateFile = clientCertificateFile
        self.clientKeyFile = clientKeyFile
        self.terminalID = terminalID
        self.merchantID = merchantID
    }

    /// This terminal as messages name it: DE 41, DE 42 and, when configured, DE 32 and DE 24.
    public var identity: TerminalIdentity {
        TerminalIdentity(
            terminalID: terminalID, merchantID: merchantID, acquirerInstitutionID: acquirerInstitutionID, nii: nii)
    }

    /// The ISO 8583 message spec of `profile`; nil when the profile name is unknown.
    public var spec: MessageSpec? { MessageSpec.named(profile) }

    private enum CodingKeys: String, CodingKey {
        case host, port, caFile, clientCertificateFile, clientKeyFile, spkiPin, profile, connectTimeout,
            responseTimeout, persistentConnection, echoInterval, terminalID, merchantID, acquirerInstitutionID, nii,
            requestMTI, reversalMTI, refundMTI, signOn, drainBeforeOnline, safExpiry, safAlertAfter, safMaxAttempts,
            safRetryResponseCodes, safAcceptedResponseCodes, partialApprovals, safRetryInterval, safRetryMaxInterval,
            settlementBatchField, settlementProcessingCode, settlementAfterUploadProcessingCode,
            settlementOutOfBalanceCodes, settlementReversals
    }

    /// Reads a configuration file's `acquirer` object: the keys that identify the acquirer and terminal are required,
    /// every other key falls back to its default.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            host: try c.decode(String.self, forKey: .host), port: try c.decode(Int.self, forKey: .port),
            caFile: try c.decode(String.self, forKey: .caFile),
            clientCertificateFile: try c.decode(String.self, forKey: .clientCertificateFile),
            clientKeyFile: try c.decode(String.self, forKey: .clientKeyFile),
            terminalID: try c.decode(String.self, forKey: .terminalID),
            merchantID: try c.decode(String.self, forKey: .merchantID))
        spkiPin = try c.decodeIfPresent(String.self, forKey: .spkiPin)
        if let v = try c.decodeIfPresent(String.self, forKey: .profile) { profile = v }
        if let v = try c.decodeIfPresent(Double.self, forKey: .connectTimeout) { connectTimeout = v }
        if let v = try c.decodeIfPresent(Double.self, forKey: .responseTimeout) { responseTimeout = v }
        if let v = try c.decodeIfPresent(Bool.self, forKey: .persistentConnection) { persistentConnection = v }
        if let v = try c.decodeIfPresent(Double.self, forKey: .echoInterval) { echoInterval = v }
        acquirerInstitutionID = try c.decodeIfPresent(String.self, forKey: .acquirerInstitutionID)
        nii = try c.decodeIfPresent(String.self, forKey: .nii)
        if let v = try c.decodeIfPresent(String.self, forKey: .requestMTI) { requestMTI = v }
        if let v = try c.decodeIfPresent(String.self, forKey: .reversalMTI) { reversalMTI = v }
        if let v = try c.decodeIfPresent(String.self, forKey: .refundMTI) { refundMTI = v }
        if let v = try c.decodeIfPresent(Bool.self, forKey: .signOn) { signOn = v }
        if let v = try c.decodeIfPresent(Bool.self, forKey: .drainBeforeOnline) { drainBeforeOnline = v }
        if let v = try c.decodeIfPresent(Double.self, forKey: .safExpiry) { safAlertAfter = v }
        if let v = try c.decodeIfPresent(Double.self, forKey: .safAlertAfter) { safAlertAfter = v }
        if let v = try c.decodeIfPresent([String].self, forKey: .safAcceptedResponseCodes) {
            safAcceptedResponseCodes = v
        }
        if let v = try c.decodeIfPresent(String.self, forKey: .partialApprovals) { partialApprovals = v }
        if let v = try c.decodeIfPresent(Int.self, forKey: .safMaxAttempts) { safMaxAttempts = v }
        if let v = try c.decodeIfPresent([String].self, forKey: .safRetryResponseCodes) { safRetryResponseCodes = v }
        if let v = try c.decodeIfPresent(Double.self, forKey: .safRetryInterval) { safRetryInterval = v }
        if let v = try c.decodeIfPresent(Double.self, forKey: .safRetryMaxInterval) { safRetryMaxInterval = v }
        if let v = try c.decodeIfPresent(Int.self, forKey: .settlementBatchField) { settlementBatchField = v }
        if let v = try c.decodeIfPresent(String.self, forKey: .settlementProcessingCode) {
            settlementProcessingCode = v
        }
        if let v = try c.decodeIfPresent(String.self, forKey: .settlementAfterUploadProcessingCode) {
            settlementAfterUploadProcessingCode = v
        }
        if let v = try c.decodeIfPresent([String].self, forKey: .settlementOutOfBalanceCodes) {
            settlementOutOfBalanceCodes = v
        }
        if let v = try c.decodeIfPresent(String.self, forKey: .settlementReversals) { settlementReversals = v }
        func check(_ ok: Bool, _ key: CodingKeys, _ why: String) throws {
            if !ok { throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: why) }
        }
        try check((1...65_535).contains(port), .port, "port must be 1…65535")
        try check(MessageSpec.named(profile) != nil, .profile, "unknown profile \(profile) (iso87-ascii or iso87-bcd)")
        try check(["0100", "0200"].contains(requestMTI), .requestMTI, "requestMTI must be 0100 or 0200")
        try check(["0400", "0420"].contains(reversalMTI), .reversalMTI, "reversalMTI must be 0400 or 0420")
        try check(["0100", "0200"].contains(refundMTI), .refundMTI, "refundMTI must be 0100 or 0200")
        try check(terminalID.count == 8, .terminalID, "terminalID (DE 41) is 8 characters")
        try check(merchantID.count == 15, .merchantID, "merchantID (DE 42) is 15 characters")
        try check(
            ["accept", "reverse"].contains(partialApprovals), .partialApprovals,
            "partial_approvals must be accept or reverse")
        try check(safMaxAttempts >= 1, .safMaxAttempts, "saf_max_attempts must be at least 1")
        try check(
            !safAcceptedResponseCodes.isEmpty && safAcceptedResponseCodes.allSatisfy { $0.count == 2 },
            .safAcceptedResponseCodes,
            "saf_accepted_response_codes must list two-character response codes")
        try check(
            [48, 60, 61, 62, 63].contains(settlementBatchField), .settlementBatchField,
            "settlement_batch_field must be 48, 60, 61, 62 or 63")
        try check(
            [settlementProcessingCode, settlementAfterUploadProcessingCode].allSatisfy {
                $0.count == 6 && $0.allSatisfy(\.isNumber)
            }, .settlementProcessingCode, "settlement processing codes are 6 digits")
        try check(
            settlementOutOfBalanceCodes.allSatisfy { $0.count == 2 } && !settlementOutOfBalanceCodes.contains("00"),
            .settlementOutOfBalanceCodes, "settlement_out_of_balance_codes lists two-character codes other than 00")
        try check(
            ["separate", "netted"].contains(settlementReversals), .settlementReversals,
            "settlement_reversals must be separate or netted")
        try check(
            connectTimeout > 0 && responseTimeout > 0 && safRetryInterval > 0, .responseTimeout,
            "timeouts must be positive")
    }
}
