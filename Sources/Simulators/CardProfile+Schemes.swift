// The personas of the UnionPay, American Express, JCB and Discover virtual cards and phones, and the catalogue of
// every persona by name (tapd-vicc, the tests and the demo pick them by these names). The card numbers are the
// schemes' public test numbers (as payment processors publish them for testing); none is a real account.

extension CardProfile {
    /// A card of `scheme`, online-only or, with `offline`, one that approves offline with ODA.
    public static func card(_ scheme: Scheme, offline: Bool = false) -> CardProfile {
        switch scheme {
        case .visa: return visaCard(offline: offline)
        case .mastercard: return mastercardCard(offline: offline)
        case .unionpay: return unionPayCard(offline: offline)
        case .amex: return amexCard(offline: offline)
        case .jcb: return jcbCard(offline: offline)
        case .discover: return discoverCard(offline: offline)
        }
    }

    /// A phone of `scheme` that verifies its user on the device; on the first tap it asks the user to look at it.
    public static func phone(_ scheme: Scheme) -> CardProfile {
        switch scheme {
        case .visa: return visaPhone()
        case .mastercard: return mastercardPhone()
        case .unionpay:
            return CardProfile(
                name: "UnionPay phone (on-device CVM, see phone)", scheme: .unionpay, formFactor: .phone,
                pan: "6200000000000013", label: "UNIONPAY", seePhoneOnFirstTap: true)
        case .amex:
            return CardProfile(
                name: "American Express phone (mobile CVM, see phone)", scheme: .amex, formFactor: .phone,
                pan: "371449635398431", label: "AMERICAN EXPRESS", seePhoneOnFirstTap: true)
        case .jcb:
            return CardProfile(
                name: "JCB phone (on-device CVM, see phone)", scheme: .jcb, formFactor: .phone,
                pan: "3566111111111113", label: "JCB", seePhoneOnFirstTap: true)
        case .discover:
            return CardProfile(
                name: "Discover phone (on-device CVM, see phone)", scheme: .discover, formFactor: .phone,
                pan: "6011000990139424", label: "DISCOVER", seePhoneOnFirstTap: true)
        }
    }

    /// A UnionPay QuickPass card (qPBOC, RSA and triple DES); `offline` approves offline with fDDA.
    public static func unionPayCard(offline: Bool = false) -> CardProfile {
        CardProfile(
            name: offline ? "UnionPay card (offline with fDDA)" : "UnionPay card (online)", scheme: .unionpay,
            formFactor: .card, pan: "6200000000000005", label: "UNIONPAY CREDIT", offlineCapable: offline)
    }

    /// A PBOC 3.0 card that uses China's national algorithms: SM2 fDDA and SM4 cryptograms.
    public static func unionPaySMCard(offline: Bool = false) -> CardProfile {
        var p = CardProfile(
            name: offline ? "UnionPay SM card (offline with SM2 fDDA)" : "UnionPay SM card (online, SM4 cryptogram)",
            scheme: .unionpay, formFactor: .card, pan: "6200000000000047", label: "UNIONPAY CREDIT",
            offlineCapable: offline)
        p.nationalAlgorithms = true
        return p
    }

    /// An American Express ExpressPay card in EMV mode with CDA.
    public static func amexCard(offline: Bool = false) -> CardProfile {
        CardProfile(
            name: offline ? "American Express card (offline with CDA)" : "American Express card (online, CDA)",
            scheme: .amex, formFactor: .card, pan: "378282246310005", label: "AMERICAN EXPRESS",
            offlineCapable: offline)
    }

    /// A JCB J/Speedy card in EMV mode with CDA.
    public static func jcbCard(offline: Bool = false) -> CardProfile {
        CardProfile(
            name: offline ? "JCB card (offline with CDA)" : "JCB card (online, CDA)", scheme: .jcb, formFactor: .card,
            pan: "3566002020360505", label: "JCB", offlineCapable: offline)
    }

    /// A Discover D-PAS card: the cryptogram comes with GPO, a TC inside a CDA signature.
    public static func discoverCard(offline: Bool = false) -> CardProfile {
        CardProfile(
            name: offline ? "Discover card (offline with CDA)" : "Discover card (online)", scheme: .discover,
            formFactor: .card, pan: "6011111111111117", label: "DISCOVER", offlineCapable: offline)
    }

    /// `base` with a fault, named for it.
    public static func faulty(_ base: CardProfile, _ fault: Fault) -> CardProfile {
        var p = base
        p.fault = fault
        switch fault {
        case .tamperedSignature: p.name += ", tampered signature"
        case .expiredCertificate: p.name += ", expired issuer certificate"
        case .unknownCAKey: p.name += ", unknown CA key"
        default: p.name += ", faulty"
        }
        return p
    }

    /// Every persona by the name `tapd-vicc`, the tests and the demo use: SCHEME-card, SCHEME-offline, SCHEME-phone,
    /// and the negatives SCHEME-tampered, SCHEME-expired-cert, SCHEME-unknown-ca (offline cards whose ODA fails);
    /// unionpay-sm-card and unionpay-sm-offline for the national algorithms.
    public static let catalogue: [String: CardProfile] = {
        var c: [String: CardProfile] = [:]
        for s in Scheme.allCases {
            c["\(s.rawValue)-card"] = card(s)
            c["\(s.rawValue)-offline"] = card(s, offline: true)
            c["\(s.rawValue)-phone"] = phone(s)
            c["\(s.rawValue)-tampered"] = faulty(card(s, offline: true), .tamperedSignature)
            c["\(s.rawValue)-expired-cert"] = faulty(card(s, offline: true), .expiredCertificate)
            c["\(s.rawValue)-unknown-ca"] = faulty(card(s, offline: true), .unknownCAKey)
        }
        c["unionpay-sm-card"] = unionPaySMCard()
        c["unionpay-sm-offline"] = unionPaySMCard(offline: true)
        c["unionpay-sm-tampered"] = faulty(unionPaySMCard(offline: true), .tamperedSignature)
        return c
    }()
}
