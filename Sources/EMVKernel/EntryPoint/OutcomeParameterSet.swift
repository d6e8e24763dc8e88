// The data objects a kernel hands to the reader at the end (EMV Contactless Book A v2.10 §6.2 and Annex A; Book C-2
// v2.10 Annex A for the tag numbers): the Outcome Parameter Set (DF8129), User Interface Request Data (DF8116),
// Error Indication (DF8115), and the Data Record (FF8105) and Discretionary Data (FF8106) templates. An L2 test
// harness, `tapctl replay` and the API read them in this byte form; tapd's own code reads `Outcome`.
import TLV

/// Book A §6.2 / Book C-2 Annex A DF8129: eight bytes.
public struct OutcomeParameterSet: Sendable, Equatable {
    /// Byte 1, b8–b5 (Book A Table 6-1).
    public enum Status: UInt8, Sendable, Codable {
        case approved = 0x10
        case declined = 0x20
        case onlineRequest = 0x30
        case endApplication = 0x40
        case selectNext = 0x50
        case tryAnotherInterface = 0x60
        case tryAgain = 0x70
        case notApplicable = 0xF0
    }

    public var status: Status
    /// Byte 2: Start A 00, B 10, C 20, D 30, N/A F0.
    public var start: StartPoint
    /// Byte 3: online response data (F0: N/A; tapd's kernels need no second tap after online processing).
    public var onlineResponseData: UInt8 = 0xF0
    /// Byte 4: CVM — No CVM 00, Signature 10, Online PIN 20, Confirmation Code Verified 30, N/A F0.
    public var cvm: OutcomeCVM
    /// Byte 5: b8 UI request on outcome present, b7 on restart present, b6 data record present, b5 discretionary
    /// data present, b4 receipt.
    public var uiRequestOnOutcomePresent: Bool
    public var uiRequestOnRestartPresent: Bool
    public var dataRecordPresent: Bool
    public var discretionaryDataPresent: Bool
    public var receipt: Bool
    /// Byte 6: alternate interface preference (F0: N/A).
    public var alternateInterfacePreference: UInt8 = 0xF0
    /// Byte 7: field off request in units of 100 ms (FF: N/A).
    public var fieldOffRequest: UInt8 = 0xFF
    /// Byte 8: removal timeout in units of 100 ms.
    public var removalTimeout: UInt8 = 0x00

    /// The eight bytes of DF8129.
    public var bytes: [UInt8] {
        var b5: UInt8 = 0
        if uiRequestOnOutcomePresent { b5 |= 0x80 }
        if uiRequestOnRestartPresent { b5 |= 0x40 }
        if dataRecordPresent { b5 |= 0x20 }
        if discretionaryDataPresent { b5 |= 0x10 }
        if receipt { b5 |= 0x08 }
        return [
            status.rawValue, start.byte, onlineResponseData, cvm.byte, b5, alternateInterfacePreference,
            fieldOffRequest, removalTimeout,
        ]
    }
}

extension StartPoint {
    /// Book A Table 6-1, Outcome Parameter Set byte 2.
    public var byte: UInt8 {
        switch self {
        case .a: return 0x00
        case .b: return 0x10
        case .c: return 0x20
        case .d: return 0x30
        case .none: return 0xF0
        }
    }
}

extension OutcomeCVM {
    /// Book A Table 6-1, Outcome Parameter Set byte 4.
    public var byte: UInt8 {
        switch self {
        case .noCVM: return 0x00
        case .signature: return 0x10
        case .onlinePIN: return 0x20
        case .confirmationCodeVerified: return 0x30
        case .notApplicable: return 0xF0
        }
    }
}

extension UIStatus {
    /// Book A §9.2 status identifiers.
    public var byte: UInt8 {
        switch self {
        case .notReady: return 0x00
        case .idle: return 0x01
        case .readyToRead: return 0x02
        case .processing: return 0x03
        case .cardReadSuccessfully: return 0x04
        case .processingError: return 0x05
        }
    }
}

/// Book A §9.2 / Book C-2 Annex A DF8116: 22 bytes — message identifier, status, hold time (n6, units of 100 ms),
/// language preference (an8, padded with 00), value qualifier (00 none, 10 amount, 20 balance), value (n12) and
/// currency code (n3).
public struct UserInterfaceRequestData: Sendable, Equatable {
    public enum ValueQualifier: UInt8, Sendable {
        case none = 0x00
        case amount = 0x10
        case balance = 0x20
    }
    public var request: UIRequest
    public var languagePreference: [UInt8] = []
    public var valueQualifier: ValueQualifier = .none
    public var value: UInt64 = 0
    public var currencyCode: UInt16 = 0

    public init(_ request: UIRequest) { self.request = request }

    public var bytes: [UInt8] {
        var out: [UInt8] = [request.message.rawValue, request.status.byte]
        out += BCD.encode(UInt64(max(0, request.holdTimeMilliseconds / 100)), bytes: 3) ?? [0x99, 0x99, 0x99]
        out += Array(languagePreference.prefix(8)) + [UInt8](repeating: 0, count: max(0, 8 - languagePreference.count))
        out.append(valueQualifier.rawValue)
        out +=
            valueQualifier == .none
            ? [UInt8](repeating: 0, count: 6) : (BCD.encode(value, bytes: 6) ?? [0x99, 0x99, 0x99, 0x99, 0x99, 0x99])
        out += valueQualifier == .none ? [0, 0] : (BCD.encode(UInt64(currencyCode), bytes: 2) ?? [0, 0])
        return out
    }
}

/// Book A §6.3 / Book C-2 Annex A DF8115: why a transaction ended as it did, by layer.
public struct ErrorIndication: Sendable, Equatable {
    /// Errors of the contactless interface (ISO/IEC 14443), as the reader reports them.
    public enum L1: UInt8, Sendable, Codable {
        case ok = 0x00
        case timeOutError = 0x01
        case transmissionError = 0x02
        case protocolError = 0x03
    }
    /// Errors the kernel or Entry Point found in the card's data or answers.
    public enum L2: UInt8, Sendable, Codable {
        case ok = 0x00
        case cardDataMissing = 0x01
        case camFailed = 0x02
        case statusBytes = 0x03
        case parsingError = 0x04
        case maxLimitExceeded = 0x05
        case cardDataError = 0x06
        case magstripeNotSupported = 0x07
        case noPPSE = 0x08
        case ppseFault = 0x09
        case emptyCandidateList = 0x0A
        case idsReadError = 0x0B
        case idsWriteError = 0x0C
        case idsDataError = 0x0D
        case idsNoMatchingAC = 0x0E
        case terminalDataError = 0x0F
    }
    /// Errors of the terminal (level 3) side.
    public enum L3: UInt8, Sendable, Codable {
        case ok = 0x00
        case timeOut = 0x01
        case stop = 0x02
        case amountNotPresent = 0x03
    }

    public var l1: L1 = .ok
    public var l2: L2 = .ok
    public var l3: L3 = .ok
    /// SW1 SW2 of the answer that caused an L2 STATUS BYTES error (0000 otherwise).
    public var statusWord: UInt16 = 0
    /// The message shown on error (FF: N/A).
    public var messageOnError: UIMessage? = nil

    public init(l1: L1 = .ok, l2: L2 = .ok, l3: L3 = .ok, statusWord: UInt16 = 0, messageOnError: UIMessage? = nil) {
        self.l1 = l1
        self.l2 = l2
        self.l3 = l3
        self.statusWord = statusWord
        self.messageOnError = messageOnError
    }

    public var isOK: Bool { l1 == .ok && l2 == .ok && l3 == .ok }

    /// The six bytes of DF8115.
    public var bytes: [UInt8] {
        [
            l1.rawValue, l2.rawValue, l3.rawValue, UInt8(statusWord >> 8), UInt8(statusWord & 0xFF),
            messageOnError?.rawValue ?? 0xFF,
        ]
    }
}

extension Outcome {
    /// Book A §6.2: the Outcome Parameter Set of this outcome. "See phone" is carried as the status the kernel
    /// used for it (`bookStatus`: End Application in C-2, Try Again in C-3) with the See Phone message; a C-2 torn
    /// transaction is End Application with a restart at Start B.
    public var parameterSet: OutcomeParameterSet {
        let status: OutcomeParameterSet.Status
        switch kind {
        case .approved: status = .approved
        case .declined: status = .declined
        case .onlineRequest: status = .onlineRequest
        case .endApplication: status = .endApplication
        case .selectNext: status = .selectNext
        case .tryAnotherInterface: status = .tryAnotherInterface
        case .tryAgain: status = bookStatus ?? .tryAgain
        case .seePhone: status = bookStatus ?? .endApplication
        }
        return OutcomeParameterSet(
            status: status, start: start, cvm: cvm,
            uiRequestOnOutcomePresent: uiRequestOnOutcome != nil,
            uiRequestOnRestartPresent: uiRequestOnRestart != nil,
            dataRecordPresent: dataRecordTags.contains { transactionData[$0] != nil }, discretionaryDataPresent: true,
            receipt: receipt)
    }

    /// The objects an L2 test harness reads, as TLVs: DF8129, DF8116 (and the restart request), DF8115, FF8105, FF8106.
    public var kernelOutput: [TLV] {
        var out = [TLV(tag: 0xDF8129, value: parameterSet.bytes)]
        if let ui = uiRequestOnOutcome { out.append(TLV(tag: 0xDF8116, value: UserInterfaceRequestData(ui).bytes)) }
        if let ui = uiRequestOnRestart { out.append(TLV(tag: 0xDF8116, value: UserInterfaceRequestData(ui).bytes)) }
        out.append(TLV(tag: 0xDF8115, value: errorIndication.bytes))
        if !dataRecord.isEmpty { out.append(TLV(tag: 0xFF8105, children: dataRecord)) }
        out.append(TLV(tag: 0xFF8106, children: discretionaryData + [TLV(tag: 0xDF8115, value: errorIndication.bytes)]))
        return out
    }
}
