// The personas the virtual cards play: cards and phones of every scheme tapd has a kernel for, and cards that
// misbehave the ways real ones do. Everything a persona signs chains to a test CA generated for the purpose.

import EMVCrypto
import EMVKernel
import TLV

/// The persona of a virtual card or phone: its scheme, card data and the ways it misbehaves.
public struct CardProfile: Sendable {
    /// The payment scheme, which picks the AID and the kernel (Visa C-3, Mastercard C-2, American Express C-4, JCB
    /// C-5, Discover C-6, UnionPay C-7).
    public enum Scheme: String, Sendable, CaseIterable {
        case visa, mastercard, amex, jcb, discover, unionpay

        /// The RID under which the scheme's CA keys are filed.
        public var rid: [UInt8] { Array(aid.prefix(5)) }
        /// The AID the virtual cards of the scheme carry.
        public var aid: [UInt8] {
            switch self {
            case .visa: return [0xA0, 0, 0, 0, 0x03, 0x10, 0x10]
            case .mastercard: return [0xA0, 0, 0, 0, 0x04, 0x10, 0x10]
            case .amex: return [0xA0, 0, 0, 0, 0x25, 0x01, 0x04, 0x03]
            case .jcb: return [0xA0, 0, 0, 0, 0x65, 0x10, 0x10]
            case .discover: return [0xA0, 0, 0, 0x01, 0x52, 0x30, 0x10]
            case .unionpay: return [0xA0, 0, 0, 0x03, 0x33, 0x01, 0x01, 0x02]
            }
        }
        /// The Kernel Identifier its PPSE entry names (Book B §3.3.2.5).
        public var kernelID: UInt8 {
            switch self {
            case .mastercard: return 2
            case .visa: return 3
            case .amex: return 4
            case .jcb: return 5
            case .discover: return 6
            case .unionpay: return 7
            }
        }
    }
    /// A plastic card or a phone (a phone verifies the cardholder on the device).
    public enum FormFactor: Sendable { case card, phone }
    /// Ways a card can misbehave.
    public enum Fault: Sendable, Equatable {
        case none
        /// The dynamic signature is corrupted after signing.
        case tamperedSignature
        /// The card stops answering (times out) on the command with this instruction byte.
        case stopsAnswering(ins: UInt8)
        /// The GPO response carries a length that overruns the data.
        case malformedGPOResponse
        /// A relay attacker's card: relay resistance is answered but its values are not signed in CDA.
        case unsignedRelayResistance
        /// The issuer certificate expired (December 2020).
        case expiredCertificate
        /// The card names a CA key index (EE) no terminal has.
        case unknownCAKey
    }

    /// A readable name for the persona, e.g. "Visa card (online)".
    public var name: String
    /// The card's payment scheme.
    public var scheme: Scheme
    /// Whether it is a plastic card or a phone.
    public var formFactor: FormFactor
    /// The test card number (PAN).
    public var pan: String
    /// The PAN sequence number (tag 5F34), which also enters the ICC master key derivation.
    public var panSequenceNumber: UInt8 = 0x01
    /// The application expiration date (tag 5F24), BCD YYMMDD.
    public var expiry: [UInt8] = [0x28, 0x12, 0x31]  // YYMMDD
    /// The application effective date (tag 5F25), BCD YYMMDD.
    public var effective: [UInt8] = [0x24, 0x01, 0x01]
    /// The application label (tag 50) in the PPSE and FCI.
    public var label: String
    /// Offline-capable cards answer TC when the reader does not insist on going online.
    public var offlineCapable: Bool = false
    /// Phones: the first tap answers "see phone" until the user has looked at the phone.
    public var seePhoneOnFirstTap: Bool = false
    /// Whether GPO returns all data and there is no AFL (Visa: three C-APDUs in all).
    public var noRecords: Bool = false
    /// The CVM a plastic card asks for above the CVM limit (Visa CTQ).
    public var wantsOnlinePINAboveCVMLimit: Bool = false
    /// How the card misbehaves; `.none` for a well-behaved one.
    public var fault: Fault = .none
    /// Serial number of the issuer certificate (a revocation test lists it).
    public var issuerCertificateSerial: [UInt8] = [0x00, 0x00, 0x01]

    /// PBOC 3.0 cards only: SM2 for offline data authentication and SM4 for the cryptogram (JR/T 0025.17).
    public var nationalAlgorithms: Bool = false
    /// The application identifier of the scheme.
    public var aid: [UInt8] { scheme.aid }
    /// The RID, the AID's first five bytes, under which the scheme's CA keys are filed.
    public var rid: [UInt8] { Array(aid.prefix(5)) }

    /// TEST issuer master key for application cryptograms: 0123456789ABCDEFFEDCBA9876543210 (never production).
    public static let testIssuerMasterKey: [UInt8] = [
        0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF,
        0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10,
    ]

    /// ICC master key by Option A from PAN and PAN sequence number (Book 2 A1.4.1).
    public var iccMasterKey: [UInt8] {
        try! KeyDerivation.iccMasterKeyOptionA(
            issuerMasterKey: Self.testIssuerMasterKey, pan: pan,
            panSequenceNumber: Hex.encode([panSequenceNumber]))
    }

    // MARK: The personas of the kernels issue

    /// A Visa plastic card that goes online or, with `offline`, may be approved offline with fDDA.
    public static func visaCard(offline: Bool = false) -> CardProfile {
        CardProfile(
            name: offline ? "Visa card (offline with fDDA)" : "Visa card (online)", scheme: .visa, formFactor: .card,
            pan: "4761739001010119", label: "VISA CREDIT", offlineCapable: offline)
    }
    /// A Visa card whose GPO answer carries everything, with no records to read.
    public static func visaCardNoRecords() -> CardProfile {
        var p = visaCard()
        p.name = "Visa card (online, no records)"
        p.noRecords = true
        p.pan = "4761739001010127"
        return p
    }
    /// A Visa phone with on-device CVM that answers "see phone" on the first tap.
    public static func visaPhone() -> CardProfile {
        CardProfile(
            name: "Visa phone (on-device CVM, see phone)", scheme: .visa, formFactor: .phone,
            pan: "4895370012345678", label: "VISA", seePhoneOnFirstTap: true)
    }
    /// A Mastercard M/Chip plastic card with CDA; `offline` answers a TC when one is asked for.
    public static func mastercardCard(offline: Bool = false) -> CardProfile {
        CardProfile(
            name: offline ? "Mastercard card (M/Chip, CDA, offline)" : "Mastercard card (M/Chip, CDA)",
            scheme: .mastercard, formFactor: .card, pan: "5413330089020011", label: "MASTERCARD",
            offlineCapable: offline)
    }
    /// A Mastercard phone with on-device CVM.
    public static func mastercardPhone() -> CardProfile {
        CardProfile(
            name: "Mastercard phone (on-device CVM)", scheme: .mastercard, formFactor: .phone,
            pan: "5204740000001234", label: "MASTERCARD")
    }
    /// An offline-capable Visa card whose application expired on 31 January 2024.
    public static func expiredCard() -> CardProfile {
        var p = visaCard(offline: true)
        p.name = "Visa card, expired"
        p.expiry = [0x24, 0x01, 0x31]
        return p
    }
    /// A Mastercard card whose issuer certificate has serial 0BAD01, for tests that list it as revoked.
    public static func revokedIssuerKey() -> CardProfile {
        var p = mastercardCard()
        p.name = "Mastercard card, revoked issuer key"
        p.issuerCertificateSerial = [0x0B, 0xAD, 0x01]
        return p
    }
    /// An offline-capable Visa card whose fDDA signature is corrupted after signing.
    public static func tamperedSignature() -> CardProfile {
        var p = visaCard(offline: true)
        p.name = "Visa card, tampered signature"
        p.fault = .tamperedSignature
        return p
    }
    /// A Mastercard card that stops answering (times out) at READ RECORD.
    public static func stopsAnswering() -> CardProfile {
        var p = mastercardCard()
        p.name = "Mastercard card that stops answering"
        p.fault = .stopsAnswering(ins: 0xB2)
        return p
    }
    /// A Visa card whose GPO response gives tag 9F10 a length that overruns the data.
    public static func malformedTLV() -> CardProfile {
        var p = visaCard()
        p.name = "Visa card returning malformed TLV"
        p.fault = .malformedGPOResponse
        return p
    }
}
