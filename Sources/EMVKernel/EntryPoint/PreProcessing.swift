// Entry Point pre-processing (EMV Contactless Book B §3.1.1): for each combination of AID and kernel, decide
// before the card is tapped whether it is allowed for this amount and what the kernel must be told (the TTQ
// with "online cryptogram required" and "CVM required" set as the limits demand).
import TLV

/// Book B §3.1.1: the Entry Point Pre-Processing Indicators of one combination.
public struct PreProcessingIndicators: Sendable, Equatable {
    public var statusCheckRequested = false
    public var contactlessApplicationNotAllowed = false
    public var zeroAmount = false
    public var cvmRequiredLimitExceeded = false
    public var floorLimitExceeded = false
    /// The TTQ after pre-processing (C-3 combinations only).
    public var ttq: [UInt8]?
}

public struct PreProcessedCombination: Sendable {
    public let application: ApplicationConfiguration
    public let indicators: PreProcessingIndicators
}

public enum PreProcessing {
    /// Book B §3.1.1.1–§3.1.1.13. Returns the combinations with their indicators; all of them "not allowed"
    /// means the transaction cannot be done contactless (Outcome Try Another Interface, §3.1.1.13).
    public static func run(_ config: TerminalConfiguration, _ txn: TransactionParameters) -> [PreProcessedCombination] {
        config.applications.map { configured in
            // Book B §3.1: the combination as configured for this transaction type.
            let app = configured.resolved(for: txn.type.rawValue)
            var ind = PreProcessingIndicators()
            // §3.1.1.1: copy the configured TTQ with byte 2 b8 (online cryptogram required) and b7 (CVM required) clear.
            // The TTQ's reader bits agree with the configuration (Book C-3 Annex A; the issue of capabilities that agree).
            // The kernels that take a TTQ (C-3, C-6, C-7) always get one: without a configured 4-byte TTQ the
            // kernel's default, so the floor limit and the other pre-processing results always reach the card and a
            // card can never supply the terminal's TTQ itself.
            let configured = app.ttq.flatMap { $0.bytes.count == 4 ? $0.bytes : nil } ?? app.kernel.defaultTTQ
            var ttq = configured.map { config.agreeingTTQ($0) }
            if ttq != nil, ttq!.count == 4 { ttq![1] &= 0x3F }
            let amount = txn.amount
            // §3.1.1.2: status check — an amount of exactly one major unit.
            if app.statusCheckSupported, amount == pow10(config.currencyExponent) { ind.statusCheckRequested = true }
            // §3.1: a combination configured for other transaction types is not allowed for this one.
            if let types = app.transactionTypes, !types.contains(txn.type.rawValue) {
                ind.contactlessApplicationNotAllowed = true
            }
            // A transaction type the terminal's Additional Terminal Capabilities (9F40) deny is not run either.
            if !config.additionalCapabilitiesAllow(txn.type.rawValue) { ind.contactlessApplicationNotAllowed = true }
            // §3.1.1.3–4: zero amount — not allowed when the combination says so, and on an offline-only reader
            // (which could only approve it offline, while a zero amount asks for an online cryptogram).
            if amount == 0 {
                if app.zeroAmountAllowed && config.onlineCapable {
                    ind.zeroAmount = true
                } else {
                    ind.contactlessApplicationNotAllowed = true
                }
            }
            // §3.1.1.5: the reader contactless transaction limit. C-2 chooses between its two limits after GPO, when
            // it knows whether the device supports on-device CVM; here only an amount above both rules it out.
            if app.kernel == .mastercard {
                let limits = [app.contactlessTransactionLimit, app.contactlessTransactionLimitOnDeviceCVM].compactMap {
                    $0
                }
                if let highest = limits.max(), amount > highest { ind.contactlessApplicationNotAllowed = true }
            } else if let limit = app.contactlessTransactionLimit, amount >= limit {
                ind.contactlessApplicationNotAllowed = true
            }
            // §3.1.1.6: the reader contactless floor limit (the terminal floor limit when absent).
            if let floor = app.contactlessFloorLimit, amount > floor { ind.floorLimitExceeded = true }
            // §3.1.1.7: the reader CVM required limit.
            if let cvm = app.cvmRequiredLimit, amount >= cvm { ind.cvmRequiredLimitExceeded = true }
            // §3.1.1.8–9: qualifiers for C-3.
            if var t = ttq, t.count == 4 {
                // online cryptogram required
                // A transaction the merchant forces online (a pre-authorisation) asks for an online cryptogram the
                // same way (Book 3 Annex C, TVR byte 4 b4; Book C-3 reads only the TTQ).
                if ind.statusCheckRequested || ind.zeroAmount || ind.floorLimitExceeded || txn.forcedOnline {
                    t[1] |= 0x80
                }
                if ind.cvmRequiredLimitExceeded { t[1] |= 0x40 }  // CVM required
                ind.ttq = t
            }
            return PreProcessedCombination(application: app, indicators: ind)
        }
    }

    static func pow10(_ e: UInt8) -> UInt64 { (0..<e).reduce(UInt64(1)) { x, _ in x * 10 } }
}
