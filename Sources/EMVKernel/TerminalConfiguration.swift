// Terminal configuration: who the terminal is (EMV Book 4 Annex A; Book 3 Annex A terminal data) and, for each
// application it accepts, the kernel, limits, action codes and qualifiers Entry Point and the kernels use
// (Book B §3.1 "Entry Point Configuration Data", Book C-2 and C-3 configuration data). Every field has a
// default that suits an attended, online-capable merchant terminal without PIN pad in the euro area; the
// README documents them.
import Foundation
import TLV

/// Book B §3.3.2.5: Kernel Identifiers of the international schemes.
public enum KernelID: UInt8, Sendable, Codable, CaseIterable {
    case mastercard = 2
    case visa = 3
    case amex = 4
    case jcb = 5
    case discover = 6
    case unionpay = 7

    public var name: String {
        switch self {
        case .mastercard: return "C-2"
        case .visa: return "C-3"
        case .amex: return "C-4"
        case .jcb: return "C-5"
        case .discover: return "C-6"
        case .unionpay: return "C-7"
        }
    }

    public var scheme: String {
        switch self {
        case .mastercard: return "Mastercard"
        case .visa: return "Visa"
        case .amex: return "American Express"
        case .jcb: return "JCB"
        case .discover: return "Discover"
        case .unionpay: return "UnionPay"
        }
    }

    /// The TTQ of a combination whose configuration gives none, for the kernels that send one (Book C-3 Annex A,
    /// Book C-6, JR/T 0025.12 Table 3): qVSDC / EMV mode, signature, on-device CVM; qPBOC with fDDA version 01.
    public var defaultTTQ: [UInt8]? {
        switch self {
        case .visa, .discover: return [0x22, 0x00, 0x40, 0x00]
        case .unionpay: return [0x22, 0x00, 0x00, 0x80]
        default: return nil
        }
    }

    /// Whether tapd has this kernel.
    public var isSupported: Bool { KernelRegistry.kernel(for: self) != nil }

    /// The kernel a directory entry without 9F2A asks for, by RID (Book B §3.3.2.5 default by scheme).
    public static func defaultKernel(forAID aid: [UInt8]) -> KernelID? {
        switch Hex.encode(aid.prefix(5)) {
        case "A000000004": return .mastercard
        case "A000000003": return .visa
        case "A000000025": return .amex
        case "A000000065": return .jcb
        case "A000000152", "A000000324": return .discover
        case "A000000333": return .unionpay
        default: return nil
        }
    }
}

/// Bytes that read and write as hex strings in configuration files.
public struct HexBytes: Codable, Sendable, Equatable, ExpressibleByStringLiteral {
    public var bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public init(stringLiteral value: String) { bytes = [UInt8](hex: value)! }
    public init(from decoder: any Decoder) throws {
        let s = try decoder.singleValueContainer().decode(String.self)
        guard let b = [UInt8](hex: s) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "\"\(s)\" is not hex"))
        }
        bytes = b
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(Hex.encode(bytes))
    }
}

/// One accepted application: an AID (matched as a prefix of the card's ADF name, Book B §3.3.2.5) with its kernel.
public struct ApplicationConfiguration: Codable, Sendable, Equatable {
    public var aid: HexBytes
    public var kernel: KernelID
    public var label: String
    /// Amounts in minor units of the transaction currency. Book B §3.1.1.
    public var contactlessTransactionLimit: UInt64?
    /// C-2 only: the limit when the card or phone supports on-device CVM (DF8125); `contactlessTransactionLimit`
    /// is then the no-on-device-CVM limit (DF8124).
    public var contactlessTransactionLimitOnDeviceCVM: UInt64?
    public var contactlessFloorLimit: UInt64?
    public var cvmRequiredLimit: UInt64?
    public var statusCheckSupported: Bool
    public var zeroAmountAllowed: Bool
    /// C-3 Terminal Transaction Qualifiers before pre-processing (9F66).
    public var ttq: HexBytes?
    /// Terminal Action Codes (Book 3 §10.7; C-2 DF8120–DF8122).
    public var tacDefault: HexBytes
    public var tacDenial: HexBytes
    public var tacOnline: HexBytes
    /// Application Version Number (terminal), 9F09.
    public var applicationVersion: HexBytes
    /// C-2 Kernel Configuration (DF811B): b6 on-device CVM supported, b5 relay resistance protocol supported.
    public var kernelConfiguration: HexBytes?
    /// C-2 relay resistance parameters (units of 100 µs except the mismatch threshold in percent), DF8132–DF8137.
    public var relayResistance: RelayResistanceConfiguration?
    /// Book B §3.3.3.3: whether this combination appends the card's Extended Selection (9F29) to the final SELECT.
    public var extendedSelectionSupported: Bool = false
    /// Book B §3.1: the transaction types (9C: 00 purchase, 01 cash, 09 cashback, 20 refund) this combination is
    /// configured for; nil means all.
    public var transactionTypes: [UInt8]? = nil
    /// Book B §3.1 (configuration per combination and transaction type): limits that differ for one transaction
    /// type, keyed by the 9C value in hex ("00", "01", "09", "20"); what a type leaves out keeps the values above.
    public var limitsByTransactionType: [String: TransactionTypeLimits]? = nil

    /// This combination as configured for `type`: its per-type limits in place of the general ones.
    public func resolved(for type: UInt8) -> ApplicationConfiguration {
        guard let l = limitsByTransactionType?[Hex.encode([type])] else { return self }
        var a = self
        if let v = l.contactlessTransactionLimit { a.contactlessTransactionLimit = v }
        if let v = l.contactlessTransactionLimitOnDeviceCVM { a.contactlessTransactionLimitOnDeviceCVM = v }
        if let v = l.contactlessFloorLimit { a.contactlessFloorLimit = v }
        if let v = l.cvmRequiredLimit { a.cvmRequiredLimit = v }
        return a
    }

    public init(
        aid: HexBytes, kernel: KernelID, label: String, contactlessTransactionLimit: UInt64? = nil,
        contactlessTransactionLimitOnDeviceCVM: UInt64? = nil, contactlessFloorLimit: UInt64? = nil,
        cvmRequiredLimit: UInt64? = nil, statusCheckSupported: Bool = false, zeroAmountAllowed: Bool = true,
        ttq: HexBytes? = nil, tacDefault: HexBytes = "0000000000", tacDenial: HexBytes = "0000000000",
        tacOnline: HexBytes = "0000000000", applicationVersion: HexBytes = "0002",
        kernelConfiguration: HexBytes? = nil, relayResistance: RelayResistanceConfiguration? = nil
    ) {
        self.aid = aid
        self.kernel = kernel
        self.label = label
        self.contactlessTransactionLimit = contactlessTransactionLimit
        self.contactlessTransactionLimitOnDeviceCVM = contactlessTransactionLimitOnDeviceCVM
        self.contactlessFloorLimit = contactlessFloorLimit
        self.cvmRequiredLimit = cvmRequiredLimit
        self.statusCheckSupported = statusCheckSupported
        self.zeroAmountAllowed = zeroAmountAllowed
        self.ttq = ttq
        self.tacDefault = tacDefault
        self.tacDenial = tacDenial
        self.tacOnline = tacOnline
        self.applicationVersion = applicationVersion
        self.kernelConfiguration = kernelConfiguration
        self.relayResistance = relayResistance
    }

    enum CodingKeys: String, CodingKey {
        case aid, kernel, label, contactlessTransactionLimit, contactlessTransactionLimitOnDeviceCVM,
            contactlessFloorLimit
        case cvmRequiredLimit, statusCheckSupported, zeroAmountAllowed, ttq, tacDefault, tacDenial, tacOnline
        case applicationVersion, kernelConfiguration, relayResistance, extendedSelectionSupported, transactionTypes
        case limitsByTransactionType
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            aid: try c.decode(HexBytes.self, forKey: .aid), kernel: try c.decode(KernelID.self, forKey: .kernel),
            label: try c.decodeIfPresent(String.self, forKey: .label) ?? "")
        contactlessTransactionLimit = try c.decodeIfPresent(UInt64.self, forKey: .contactlessTransactionLimit)
        contactlessTransactionLimitOnDeviceCVM = try c.decodeIfPresent(
            UInt64.self, forKey: .contactlessTransactionLimitOnDeviceCVM)
        contactlessFloorLimit = try c.decodeIfPresent(UInt64.self, forKey: .contactlessFloorLimit)
        cvmRequiredLimit = try c.decodeIfPresent(UInt64.self, forKey: .cvmRequiredLimit)
        statusCheckSupported = try c.decodeIfPresent(Bool.self, forKey: .statusCheckSupported) ?? false
        zeroAmountAllowed = try c.decodeIfPresent(Bool.self, forKey: .zeroAmountAllowed) ?? true
        ttq = try c.decodeIfPresent(HexBytes.self, forKey: .ttq)
        tacDefault = try c.decodeIfPresent(HexBytes.self, forKey: .tacDefault) ?? tacDefault
        tacDenial = try c.decodeIfPresent(HexBytes.self, forKey: .tacDenial) ?? tacDenial
        tacOnline = try c.decodeIfPresent(HexBytes.self, forKey: .tacOnline) ?? tacOnline
        applicationVersion = try c.decodeIfPresent(HexBytes.self, forKey: .applicationVersion) ?? applicationVersion
        kernelConfiguration = try c.decodeIfPresent(HexBytes.self, forKey: .kernelConfiguration)
        relayResistance = try c.decodeIfPresent(RelayResistanceConfiguration.self, forKey: .relayResistance)
        extendedSelectionSupported = try c.decodeIfPresent(Bool.self, forKey: .extendedSelectionSupported) ?? false
        transactionTypes = try c.decodeIfPresent([UInt8].self, forKey: .transactionTypes)
        limitsByTransactionType = try c.decodeIfPresent(
            [String: TransactionTypeLimits].self, forKey: .limitsByTransactionType)
    }
}

/// Book B §3.1: the reader limits of one combination for one transaction type (minor units).
public struct TransactionTypeLimits: Codable, Sendable, Equatable {
    public var contactlessTransactionLimit: UInt64?
    public var contactlessTransactionLimitOnDeviceCVM: UInt64?
    public var contactlessFloorLimit: UInt64?
    public var cvmRequiredLimit: UInt64?
    public init(
        contactlessTransactionLimit: UInt64? = nil, contactlessTransactionLimitOnDeviceCVM: UInt64? = nil,
        contactlessFloorLimit: UInt64? = nil, cvmRequiredLimit: UInt64? = nil
    ) {
        self.contactlessTransactionLimit = contactlessTransactionLimit
        self.contactlessTransactionLimitOnDeviceCVM = contactlessTransactionLimitOnDeviceCVM
        self.contactlessFloorLimit = contactlessFloorLimit
        self.cvmRequiredLimit = cvmRequiredLimit
    }
}

/// Book C-2 relay resistance configuration (defaults: the Book C-2 example values).
public struct RelayResistanceConfiguration: Codable, Sendable, Equatable {
    public var minimumGracePeriod: UInt16 = 20  // DF8132, 2.0 ms
    public var maximumGracePeriod: UInt16 = 50  // DF8133, 5.0 ms
    public var expectedTransmissionTimeCAPDU: UInt16 = 18  // DF8134, 1.8 ms
    public var expectedTransmissionTimeRAPDU: UInt16 = 24  // DF8135, 2.4 ms
    public var accuracyThreshold: UInt16 = 300  // DF8136, 30 ms
    public var mismatchThresholdPercent: UInt8 = 50  // DF8137
    public init() {}
}

public struct TerminalConfiguration: Codable, Sendable {
    /// ISO 3166 numeric country code (9F1A) and ISO 4217 numeric currency code (5F2A) with its exponent.
    public var countryCode: UInt16 = 276
    public var currencyCode: UInt16 = 978
    public var currencyExponent: UInt8 = 2
    /// Book 4 Annex A1 (9F35, n2): 22 = attended, online with offline capability, operated by the merchant.
    public var terminalType: UInt8 = 22
    /// Book 4 Annex A2 (9F33): no contact or magstripe input; signature and no CVM; CDA and DDA.
    public var terminalCapabilities: HexBytes = "0028C8"
    /// Book 4 Annex A3 (9F40): goods, services; numeric keys; print and display.
    public var additionalTerminalCapabilities: HexBytes = "6000F0A001"
    public var merchantNameAndLocation: String = "tapd demo shop, Berlin"
    public var merchantCategoryCode: UInt16 = 5999
    public var merchantIdentifier: String = "TAPD00000000001"
    public var terminalIdentification: String = "TAPD0001"
    public var ifdSerialNumber: String = "00000001"
    public var acquirerIdentifier: UInt64 = 999999
    /// What the reader can do (Book B TTQ bits and Book C-2 CVM capabilities follow from these).
    public var onlineCapable: Bool = true
    public var supportsOnlinePIN: Bool = false
    public var supportsSignature: Bool = true
    public var supportsContactInterface: Bool = false
    public var applications: [ApplicationConfiguration] = TerminalConfiguration.defaultApplications
    /// Enhanced Contactless Reader Capabilities (9F6E) the American Express kernel (C-4) sends; nil: built from what
    /// the reader can do. Only C-4 uses it (in the other kernels 9F6E is the card's Form Factor Indicator).
    public var enhancedContactlessReaderCapabilities: HexBytes? = nil
    /// Taps per card within an hour above which a velocity alert is raised; nil disables the check.
    public var velocityMaxTapsPerHour: Int? = 10

    public init() {}

    /// The default application list: every international scheme with its kernel.
    public static let defaultApplications: [ApplicationConfiguration] = [
        ApplicationConfiguration(
            aid: "A0000000031010", kernel: .visa, label: "Visa", contactlessTransactionLimit: 100_000,
            contactlessFloorLimit: 0, cvmRequiredLimit: 5_000, ttq: "22004000",
            tacDefault: "DC4000A800", tacDenial: "0010000000", tacOnline: "DC4004F800", applicationVersion: "0096"),
        ApplicationConfiguration(
            aid: "A0000000032010", kernel: .visa, label: "Visa Electron", contactlessTransactionLimit: 100_000,
            contactlessFloorLimit: 0, cvmRequiredLimit: 5_000, ttq: "22004000",
            tacDefault: "DC4000A800", tacDenial: "0010000000", tacOnline: "DC4004F800", applicationVersion: "0096"),
        ApplicationConfiguration(
            aid: "A0000000041010", kernel: .mastercard, label: "Mastercard", contactlessTransactionLimit: 100_000,
            contactlessTransactionLimitOnDeviceCVM: 100_000, contactlessFloorLimit: 0, cvmRequiredLimit: 5_000,
            tacDefault: "F45084800C", tacDenial: "0000000000", tacOnline: "F45084800C", applicationVersion: "0002",
            kernelConfiguration: "30", relayResistance: RelayResistanceConfiguration()),
        ApplicationConfiguration(
            aid: "A0000000043060", kernel: .mastercard, label: "Maestro", contactlessTransactionLimit: 100_000,
            contactlessTransactionLimitOnDeviceCVM: 100_000, contactlessFloorLimit: 0, cvmRequiredLimit: 5_000,
            tacDefault: "F45084800C", tacDenial: "0000000000", tacOnline: "F45084800C", applicationVersion: "0002",
            kernelConfiguration: "30", relayResistance: RelayResistanceConfiguration()),
        // Book C-4: CVM and floor limits as the other schemes'; the TACs of American Express's published terminal
        // requirements for contactless (online on ODA failure, expiry, floor limit; denial on service not allowed).
        ApplicationConfiguration(
            aid: "A00000002501", kernel: .amex, label: "American Express", contactlessTransactionLimit: 100_000,
            contactlessFloorLimit: 0, cvmRequiredLimit: 5_000, tacDefault: "DC50FC9800", tacDenial: "0010000000",
            tacOnline: "DE00FC9800", applicationVersion: "0001"),
        // Book C-5: kernel configuration byte 1 is the Combination Options (b2 EMV mode, b5 exception file, b6 ODA).
        ApplicationConfiguration(
            aid: "A0000000651010", kernel: .jcb, label: "JCB", contactlessTransactionLimit: 100_000,
            contactlessFloorLimit: 0, cvmRequiredLimit: 5_000, tacDefault: "FC6024A800", tacDenial: "0010000000",
            tacOnline: "FC60ACF800", applicationVersion: "0200", kernelConfiguration: "32"),
        // Book C-6: the TTQ (b6 EMV mode, b2 signature; byte 3 b7 on-device CVM); no TACs (the card decides).
        ApplicationConfiguration(
            aid: "A0000001523010", kernel: .discover, label: "Discover", contactlessTransactionLimit: 100_000,
            contactlessFloorLimit: 0, cvmRequiredLimit: 5_000, ttq: "22004000", applicationVersion: "0001"),
        ApplicationConfiguration(
            aid: "A0000001524010", kernel: .discover, label: "Discover Debit", contactlessTransactionLimit: 100_000,
            contactlessFloorLimit: 0, cvmRequiredLimit: 5_000, ttq: "22004000", applicationVersion: "0001"),
        // The Zip AID is mag-stripe only: recognised, and no kernel mode tapd has runs it.
        ApplicationConfiguration(
            aid: "A0000003241010", kernel: .discover, label: "Discover Zip", contactlessTransactionLimit: 100_000,
            contactlessFloorLimit: 0, cvmRequiredLimit: 5_000, ttq: "22004000", applicationVersion: "0001"),
        // JR/T 0025.12 Table 3: TTQ b6 qPBOC, b2 signature, byte 4 b8 fDDA version 01.
        ApplicationConfiguration(
            aid: "A000000333010101", kernel: .unionpay, label: "UnionPay Debit", contactlessTransactionLimit: 100_000,
            contactlessFloorLimit: 0, cvmRequiredLimit: 5_000, ttq: "22000080", applicationVersion: "0030"),
        ApplicationConfiguration(
            aid: "A000000333010102", kernel: .unionpay, label: "UnionPay Credit", contactlessTransactionLimit: 100_000,
            contactlessFloorLimit: 0, cvmRequiredLimit: 5_000, ttq: "22000080", applicationVersion: "0030"),
        ApplicationConfiguration(
            aid: "A000000333010103", kernel: .unionpay, label: "UnionPay Quasi-credit",
            contactlessTransactionLimit: 100_000, contactlessFloorLimit: 0, cvmRequiredLimit: 5_000, ttq: "22000080",
            applicationVersion: "0030"),
        // Older PBOC cards name their application with 7 bytes (A0000003330101): matched as a prefix (Book B
        // §3.3.2.5), after the 8-byte ones.
        ApplicationConfiguration(
            aid: "A0000003330101", kernel: .unionpay, label: "UnionPay", contactlessTransactionLimit: 100_000,
            contactlessFloorLimit: 0, cvmRequiredLimit: 5_000, ttq: "22000080", applicationVersion: "0030"),
    ]

    /// Reads a JSON configuration; keys left out keep their defaults.
    public static func load(json: Data) throws -> TerminalConfiguration {
        try JSONDecoder().decode(TerminalConfiguration.self, from: json)
    }

    public init(from decoder: any Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func take<T: Decodable>(_ k: CodingKeys, _ into: inout T) throws {
            if let v = try c.decodeIfPresent(T.self, forKey: k) { into = v }
        }
        try take(.countryCode, &countryCode)
        try take(.currencyCode, &currencyCode)
        try take(.currencyExponent, &currencyExponent)
        try take(.terminalType, &terminalType)
        try take(.terminalCapabilities, &terminalCapabilities)
        try take(.additionalTerminalCapabilities, &additionalTerminalCapabilities)
        try take(.merchantNameAndLocation, &merchantNameAndLocation)
        try take(.merchantCategoryCode, &merchantCategoryCode)
        try take(.merchantIdentifier, &merchantIdentifier)
        try take(.terminalIdentification, &terminalIdentification)
        try take(.ifdSerialNumber, &ifdSerialNumber)
        try take(.acquirerIdentifier, &acquirerIdentifier)
        try take(.onlineCapable, &onlineCapable)
        try take(.supportsOnlinePIN, &supportsOnlinePIN)
        try take(.supportsSignature, &supportsSignature)
        try take(.supportsContactInterface, &supportsContactInterface)
        try take(.applications, &applications)
        if c.contains(.enhancedContactlessReaderCapabilities) {
            enhancedContactlessReaderCapabilities = try c.decodeIfPresent(
                HexBytes.self, forKey: .enhancedContactlessReaderCapabilities)
        }
        if c.contains(.velocityMaxTapsPerHour) {
            velocityMaxTapsPerHour = try c.decodeIfPresent(Int.self, forKey: .velocityMaxTapsPerHour)
        }
    }

    /// 9F35 as sent: the configured type with its second digit made to agree with `onlineCapable` (Book 4 Annex A1:
    /// an offline-only terminal is x3/x6, one that can go online x1/x2/x4/x5).
    public var terminalTypeByte: UInt8 {
        var type = terminalType % 100
        let environment = type % 10
        if !onlineCapable, environment == 1 || environment == 2 { type += 3 - environment }
        if !onlineCapable, environment == 4 || environment == 5 { type += 6 - environment }
        if onlineCapable, environment == 3 || environment == 6 { type -= 1 }
        return BCD.encode(UInt64(type), bytes: 1)?.first ?? 0x22
    }

    /// 9F33 as sent: the configured capabilities with the CVM byte and the contact-chip bit made to agree with what
    /// the reader can do (Book 4 Annex A2: byte 1 b6 IC with contacts; byte 2 b7 enciphered online PIN, b6
    /// signature, b4 no CVM), so the card is never told of a PIN pad or a contact slot the reader does not have.
    public var agreeingTerminalCapabilities: [UInt8] {
        var c = terminalCapabilities.bytes
        guard c.count == 3 else { return c }
        c[0] = supportsContactInterface ? c[0] | 0x20 : c[0] & ~0x20
        c[1] = (c[1] & ~0x60) | (supportsOnlinePIN ? 0x40 : 0) | (supportsSignature ? 0x20 : 0)
        return c
    }

    /// The TTQ as sent for an application (Book C-3 Annex A 9F66 byte 1), made to agree with the reader: b5 contact
    /// chip, b4 offline-only reader, b3 online PIN, b2 signature.
    public func agreeingTTQ(_ configured: [UInt8]) -> [UInt8] {
        guard configured.count == 4 else { return configured }
        var t = configured
        t[0] &= ~0x1E
        if supportsContactInterface { t[0] |= 0x10 }
        if !onlineCapable { t[0] |= 0x08 }
        if supportsOnlinePIN { t[0] |= 0x04 }
        if supportsSignature { t[0] |= 0x02 }
        return t
    }

    /// Book 4 Annex A3 (9F40 byte 1: b8 cash, b7 goods, b6 services, b5 cashback): whether the terminal says it does
    /// this transaction type, so the 9F40 it sends and the transactions it runs never disagree. Refunds have no bit.
    public func additionalCapabilitiesAllow(_ type: UInt8) -> Bool {
        guard let b = additionalTerminalCapabilities.bytes.first else { return true }
        switch type {
        case 0x00: return b & 0x60 != 0
        case 0x01: return b & 0x80 != 0
        case 0x09: return b & 0x10 != 0
        default: return true
        }
    }

    /// The terminal-supplied data objects that do not change per transaction.
    public func terminalData(for app: ApplicationConfiguration) -> TLVStore {
        var t = TLVStore(capacity: 112)
        t[0x9F1A] = BCD.encode(UInt64(countryCode), bytes: 2)
        t[0x5F2A] = BCD.encode(UInt64(currencyCode), bytes: 2)
        t[0x5F36] = BCD.encode(UInt64(currencyExponent), bytes: 1)
        t[0x9F35] = [terminalTypeByte]
        t[0x9F33] = agreeingTerminalCapabilities
        t[0x9F40] = additionalTerminalCapabilities.bytes
        t[0x9F4E] = Array(merchantNameAndLocation.utf8)
        t[0x9F15] = BCD.encode(UInt64(merchantCategoryCode), bytes: 2)
        t[0x9F16] =
            Array(merchantIdentifier.utf8.prefix(15))
            + [UInt8](repeating: 0x20, count: max(0, 15 - merchantIdentifier.utf8.count))
        t[0x9F1C] =
            Array(terminalIdentification.utf8.prefix(8))
            + [UInt8](repeating: 0x20, count: max(0, 8 - terminalIdentification.utf8.count))
        t[0x9F1E] =
            Array(ifdSerialNumber.utf8.prefix(8))
            + [UInt8](repeating: 0x20, count: max(0, 8 - ifdSerialNumber.utf8.count))
        t[0x9F01] = BCD.encode(acquirerIdentifier, bytes: 6)
        t[0x9F09] = app.applicationVersion.bytes
        t[0x9F06] = app.aid.bytes
        if let f = app.contactlessFloorLimit {
            t[0x9F1B] = [UInt8(f >> 24 & 0xFF), UInt8(f >> 16 & 0xFF), UInt8(f >> 8 & 0xFF), UInt8(f & 0xFF)]
        }
        return t
    }
}
