// Outcomes and user-interface requests (EMV Contactless Book A §6 and §9; Book B §3.5). A kernel ends every
// transaction with one Outcome; Entry Point acts on it (restart, select next) and the point of sale shows its
// UI requests.
import TLV

/// Book A §6.2: the outcome of a kernel, plus "see phone", which tapd names on its own although the books carry
/// it as an End Application / Try Again outcome with the "See Phone" message and a restart at Start B.
public enum OutcomeKind: String, Sendable, Codable, CaseIterable {
    case approved
    case declined
    case onlineRequest = "online_request"
    case tryAnotherInterface = "try_another_interface"
    case endApplication = "end_application"
    case tryAgain = "try_again"
    case seePhone = "see_phone"
    case selectNext = "select_next"
}

/// Book A §6.2.3: where Entry Point restarts.
public enum StartPoint: String, Sendable, Codable {
    case none = "N/A"
    case a = "A"
    case b = "B"
    case c = "C"
    case d = "D"
}

/// Book A §6.2.4: the CVM the outcome asks the point of sale to complete.
public enum OutcomeCVM: String, Sendable, Codable {
    case noCVM = "no_cvm"
    case signature
    case onlinePIN = "online_pin"
    case confirmationCodeVerified = "on_device_cvm"
    case notApplicable = "n/a"
}

/// Book A §9.4 standard message identifiers (the ones a contactless reader uses).
public enum UIMessage: UInt8, Sendable, Codable, CaseIterable {
    case approved = 0x03
    case notAuthorised = 0x07
    case enterPIN = 0x09
    case processingError = 0x0F
    case removeCard = 0x10
    case welcome = 0x14
    case presentCard = 0x15
    case processing = 0x16
    case cardReadOK = 0x17
    case insertOrSwipeCard = 0x18
    case presentOneCardOnly = 0x19
    case approvedPleaseSign = 0x1A
    case authorising = 0x1B
    case insertSwipeOrTryAnotherCard = 0x1C
    case insertCard = 0x1D
    case clearDisplay = 0x1E
    case seePhone = 0x20
    case presentCardAgain = 0x21

    public var text: String {
        switch self {
        case .approved: return "Approved"
        case .notAuthorised: return "Not authorised"
        case .enterPIN: return "Please enter your PIN"
        case .processingError: return "Processing error"
        case .removeCard: return "Remove card"
        case .welcome: return "Welcome"
        case .presentCard: return "Present card"
        case .processing: return "Processing"
        case .cardReadOK: return "Card read OK, please remove card"
        case .insertOrSwipeCard: return "Please insert or swipe card"
        case .presentOneCardOnly: return "Please present one card only"
        case .approvedPleaseSign: return "Approved, please sign"
        case .authorising: return "Authorising, please wait"
        case .insertSwipeOrTryAnotherCard: return "Insert, swipe or try another card"
        case .insertCard: return "Please insert card"
        case .clearDisplay: return ""
        case .seePhone: return "See phone for instructions"
        case .presentCardAgain: return "Present card again"
        }
    }
}

/// Book A §9.2: the reader's state shown with a message (LEDs and sounds follow it).
public enum UIStatus: String, Sendable, Codable, CaseIterable {
    case notReady = "not_ready"
    case idle
    case readyToRead = "ready_to_read"
    case processing
    case cardReadSuccessfully = "card_read_successfully"
    case processingError = "processing_error"
}

public struct UIRequest: Sendable, Equatable, Codable {
    public var message: UIMessage
    public var status: UIStatus
    /// How long the message stays before the next one (Book A §9.2; units of 100 ms in the books).
    public var holdTimeMilliseconds: Int

    public init(_ message: UIMessage, _ status: UIStatus, holdTimeMilliseconds: Int = 0) {
        self.message = message
        self.status = status
        self.holdTimeMilliseconds = holdTimeMilliseconds
    }
}

/// What a transaction produced besides its outcome: the data an acquirer, a receipt or a technician needs.
public struct Outcome: Sendable {
    public var kind: OutcomeKind
    public var start: StartPoint = .none
    public var cvm: OutcomeCVM = .notApplicable
    public var receipt: Bool = false
    public var uiRequestOnOutcome: UIRequest?
    public var uiRequestOnRestart: UIRequest?
    /// Why the transaction ended the way it did, in words, for logs and diagnostics.
    public var reason: String?

    /// The kernel that ran ("C-2", "C-3"), and the selected application.
    public var kernel: String?
    public var aid: [UInt8]?
    public var applicationLabel: String?
    public var maskedPAN: String?
    public var oda: ODAResult?
    public var cryptogram: ApplicationCryptogram?
    public var tvr: TerminalVerificationResults?
    public var cvmResults: [UInt8]?
    /// Card and terminal data for the online request and clearing (the DE 55 tags), sensitive data included:
    /// hand it only to the acquirer link, never to logs.
    public var transactionData: TLVStore = TLVStore()
    /// Risk alerts raised while processing (velocity), for the event stream.
    public var alerts: [RiskAlert] = []
    /// Book A §6.3: what went wrong, by layer (DF8115); all OK for a transaction that reached a decision.
    public var errorIndication = ErrorIndication()
    /// The Outcome Parameter Set status the kernel's book gives a "see phone" outcome (C-2: End Application;
    /// C-3: Try Again). Nil for every other outcome.
    public var bookStatus: OutcomeParameterSet.Status?
    /// The tags of the Data Record and of the Discretionary Data, taken from `transactionData` when asked for (the
    /// kernel path builds no TLVs it may never need).
    public var dataRecordTags: [Tag] = []
    public var discretionaryDataTags: [Tag] = []
    /// Book C-2 Annex A FF8105 / Book C-3: the data record the kernel hands over for authorisation and clearing
    /// (card data included: never logged).
    public var dataRecord: [TLV] {
        dataRecordTags.compactMap { t in transactionData[t].map { TLV(tag: t, value: $0) } }
    }
    /// Book C-2 Annex A FF8106: the kernel's discretionary data (besides the Error Indication, added on output).
    public var discretionaryData: [TLV] {
        discretionaryDataTags.compactMap { t in transactionData[t].map { TLV(tag: t, value: $0) } }
    }

    public init(_ kind: OutcomeKind, reason: String? = nil) {
        self.kind = kind
        self.reason = reason
    }
}

/// Book 3 §6.5.5.4: the cryptogram a card returned.
public struct ApplicationCryptogram: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable {
        case aac = "AAC"
        case tc = "TC"
        case arqc = "ARQC"
    }
    public var kind: Kind
    public var value: [UInt8]
    public var atc: [UInt8]

    /// From the Cryptogram Information Data: b8–b7 = 00 AAC, 01 TC, 10 ARQC (Book 3 Table 15). 11 is RFU.
    public static func kind(fromCID cid: UInt8) -> Kind? {
        switch cid & 0xC0 {
        case 0x00: return .aac
        case 0x40: return .tc
        case 0x80: return .arqc
        default: return nil
        }
    }
}

extension ApplicationCryptogram.Kind {
    /// The Cryptogram Information Data of this type (b8–b7, Book 3 Table 15): the inverse of `kind(fromCID:)`.
    public var cid: UInt8 {
        switch self {
        case .aac: return 0x00
        case .tc: return 0x40
        case .arqc: return 0x80
        }
    }
}

/// A risk management finding the point of sale and the operator should hear about.
public struct RiskAlert: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable {
        case velocity
        case exceptionFile = "exception_file"
    }
    public var kind: Kind
    public var message: String
}
