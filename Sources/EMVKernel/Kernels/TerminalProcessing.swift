// EMV 4.4 Book 3 terminal steps the contactless kernels reuse: processing restrictions (§10.4), cardholder
// verification with a CVM List (§10.5), and terminal action analysis (§10.7).
import TLV

public enum ProcessingRestrictions {
    /// Book 3 §10.4: application versions, application usage control, effective and expiration dates.
    public static func apply(_ store: TLVStore, date: EMVDate, to tvr: inout TerminalVerificationResults) {
        // §10.4.1: versions differ.
        if let icc = store[0x9F08], let term = store[0x9F09], icc != term { tvr.set(.differentApplicationVersions) }
        // §10.4.2: AUC against domestic/international and the transaction type.
        if let auc = store[0x9F07], auc.count == 2 {
            let domestic = store[0x5F28] != nil && store[0x5F28] == store[0x9F1A]
            let type = store[0x9C]?.first ?? 0
            var allowed = auc[0] & 0x01 != 0  // valid at terminals other than ATMs
            switch type {
            case 0x00: allowed = allowed && (domestic ? auc[0] & 0x28 != 0 : auc[0] & 0x14 != 0)  // goods or services
            case 0x01: allowed = allowed && (domestic ? auc[0] & 0x80 != 0 : auc[0] & 0x40 != 0)  // cash
            case 0x09: allowed = allowed && (domestic ? auc[1] & 0x80 != 0 : auc[1] & 0x40 != 0)  // cashback
            default: break
            }
            if !allowed { tvr.set(.serviceNotAllowed) }
        }
        // §10.4.3: effective and expiration dates.
        if let eff = store[0x5F25], let d = EMVDate(yymmdd: eff), date < d { tvr.set(.applicationNotYetEffective) }
        if let exp = store[0x5F24], let d = EMVDate(yymmdd: exp), date > d { tvr.set(.expiredApplication) }
    }
}

/// What the terminal can do for CVM, per Book C-2's CVM Capability bytes (DF8118 / DF8119, byte 1 as in
/// Terminal Capabilities byte 2: b8 plaintext PIN, b7 enciphered online PIN, b6 signature, b5 enciphered
/// offline PIN, b4 no CVM).
public struct CVMCapability: Sendable, Equatable {
    public var byte: UInt8
    public init(_ byte: UInt8) { self.byte = byte }
    public var onlinePIN: Bool { byte & 0x40 != 0 }
    public var signature: Bool { byte & 0x20 != 0 }
    public var noCVM: Bool { byte & 0x08 != 0 }
}

public enum CardholderVerification {
    public struct Result: Sendable, Equatable {
        public var cvmResults: [UInt8]
        public var outcomeCVM: OutcomeCVM
    }

    /// Book 3 §10.5 with a contactless reader's abilities: walk the CVM List, apply the first rule whose condition
    /// holds and whose method the terminal supports; unsupported or unrecognised methods fall through only when
    /// the rule says so (b7). Offline PIN is never supported on a contactless reader without PIN pad.
    public static func process(
        list: CVMList?, capability: CVMCapability, amount: UInt64, amountOther: UInt64,
        transactionType: UInt8, currencyMatches: Bool,
        tvr: inout TerminalVerificationResults
    ) -> Result {
        guard let list, !list.rules.isEmpty else {
            // §10.5: no CVM List — CVM not performed; ICC data missing.
            tvr.set(.iccDataMissing)
            return Result(cvmResults: [0x3F, 0x00, 0x00], outcomeCVM: .noCVM)
        }
        for rule in list.rules {
            guard
                conditionHolds(
                    rule, list: list, capability: capability, amount: amount,
                    transactionType: transactionType, currencyMatches: currencyMatches)
            else { continue }
            let code = rule.methodCode
            let known: Set<UInt8> = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x1E, 0x1F]
            if !known.contains(code) {
                tvr.set(.unrecognisedCVM)
                if rule.applySucceedingRuleIfUnsuccessful { continue }
                break
            }
            switch code {
            case 0x00:  // fail CVM processing
                tvr.set(.cardholderVerificationNotSuccessful)
                return Result(cvmResults: [rule.method, rule.condition, 0x01], outcomeCVM: .notApplicable)
            case 0x1F where supports(code, capability):
                return Result(cvmResults: [rule.method, rule.condition, 0x02], outcomeCVM: .noCVM)
            case 0x1E where supports(code, capability):
                return Result(cvmResults: [rule.method, rule.condition, 0x00], outcomeCVM: .signature)
            case 0x02 where supports(code, capability):
                tvr.set(.onlinePINEntered)
                return Result(cvmResults: [rule.method, rule.condition, 0x00], outcomeCVM: .onlinePIN)
            default:
                // Supported by the card, not by this reader: PIN methods note the missing PIN pad (§10.5.2).
                if [0x01, 0x02, 0x03, 0x04, 0x05].contains(code) { tvr.set(.pinPadNotPresent) }
                if rule.applySucceedingRuleIfUnsuccessful { continue }
            }
            break
        }
        // §10.5: no rule applied successfully.
        tvr.set(.cardholderVerificationNotSuccessful)
        return Result(cvmResults: [0x3F, 0x00, 0x01], outcomeCVM: .notApplicable)
    }

    /// Whether the terminal can perform a CVM method (offline PIN never, on a contactless reader without PIN pad).
    static func supports(_ code: UInt8, _ capability: CVMCapability) -> Bool {
        switch code {
        case 0x00: return true
        case 0x02: return capability.onlinePIN
        case 0x1E: return capability.signature
        case 0x1F: return capability.noCVM
        default: return false
        }
    }

    /// Book 3 Annex C3, CVM condition codes. Code 03 holds only when the terminal supports the rule's method.
    static func conditionHolds(
        _ rule: CVMRule, list: CVMList, capability: CVMCapability, amount: UInt64,
        transactionType: UInt8, currencyMatches: Bool
    ) -> Bool {
        switch rule.condition {
        case 0x00: return true
        case 0x01: return false  // unattended cash: not a merchant reader
        case 0x02: return transactionType != 0x01 && transactionType != 0x09
        case 0x03: return supports(rule.methodCode, capability)
        case 0x04: return transactionType == 0x01
        case 0x05: return transactionType == 0x09
        case 0x06: return currencyMatches && amount < UInt64(list.amountX)
        case 0x07: return currencyMatches && amount > UInt64(list.amountX)
        case 0x08: return currencyMatches && amount < UInt64(list.amountY)
        case 0x09: return currencyMatches && amount > UInt64(list.amountY)
        default: return false  // RFU conditions are not satisfied
        }
    }
}

/// Book 4 Annex A1 (9F35, n2): who operates the terminal (first digit) and whether it is attended and can go online
/// (second digit: 1/4 online only, 2/5 offline with online capability, 3/6 offline only).
public struct TerminalType: Sendable, Equatable {
    /// The BCD byte as sent in 9F35.
    public let byte: UInt8
    public init(_ byte: UInt8) { self.byte = byte }
    var environment: UInt8 { byte & 0x0F }
    public var onlineOnly: Bool { environment == 1 || environment == 4 }
    public var offlineOnly: Bool { environment == 3 || environment == 6 }
    public var canGoOnline: Bool { !offlineOnly }

    /// `requested` without a TC: what a transaction that must not be approved offline asks for instead — an ARQC
    /// where this terminal can go online, else an AAC.
    public func withoutTC(_ requested: ApplicationCryptogram.Kind) -> ApplicationCryptogram.Kind {
        requested == .tc ? (canGoOnline ? .arqc : .aac) : requested
    }
}

public enum TerminalActionAnalysis {
    /// Book 3 v4.4 §10.7: the cryptogram to ask for. Absent IACs count as 00… for denial and FF… for online and
    /// default. By terminal type: an online-only terminal asks for an ARQC unless denial applies; an offline-only
    /// terminal decides between TC and AAC with the default codes; one that can do both goes online when the online
    /// codes say so.
    public static func decide(
        tvr: TerminalVerificationResults, tacDenial: [UInt8], tacOnline: [UInt8], tacDefault: [UInt8],
        iacDenial: [UInt8]?, iacOnline: [UInt8]?, iacDefault: [UInt8]?,
        terminalType: TerminalType
    ) -> ApplicationCryptogram.Kind {
        func hit(_ tac: [UInt8], _ iac: [UInt8]?, absent: UInt8) -> Bool {
            let i = (iac?.count == 5 ? iac! : [UInt8](repeating: absent, count: 5))
            let t = tac.count == 5 ? tac : [UInt8](repeating: 0, count: 5)
            return (0..<5).contains { tvr.bytes[$0] & (t[$0] | i[$0]) != 0 }
        }
        if hit(tacDenial, iacDenial, absent: 0x00) { return .aac }
        if terminalType.onlineOnly { return .arqc }
        if terminalType.canGoOnline { return hit(tacOnline, iacOnline, absent: 0xFF) ? .arqc : .tc }
        return hit(tacDefault, iacDefault, absent: 0xFF) ? .aac : .tc
    }
}
