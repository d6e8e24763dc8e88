// The kernel's output objects (Outcome Parameter Set, UI Request Data, Error Indication, Data Record, Discretionary
// Data) as people and programs read them: each byte string beside its decoding. `tapctl replay` prints it and the API
// shows it in a sale's detail. Card data in the Data Record is masked (PAN first 6 and last 4, track data starred).
import TLV

/// What the kernel handed over at the end of a transaction, decoded.
public struct KernelOutputView: Codable, Sendable, Equatable {
    /// DF8129, Book A §6.2.
    public struct ParameterSet: Codable, Sendable, Equatable {
        public var hex: String
        public var status: String
        public var start: String
        public var cvm: String
        public var uiRequestOnOutcomePresent: Bool
        public var uiRequestOnRestartPresent: Bool
        public var dataRecordPresent: Bool
        public var discretionaryDataPresent: Bool
        public var receipt: Bool

        enum CodingKeys: String, CodingKey {
            case hex, status, start, cvm, receipt
            case uiRequestOnOutcomePresent = "ui_request_on_outcome_present"
            case uiRequestOnRestartPresent = "ui_request_on_restart_present"
            case dataRecordPresent = "data_record_present"
            case discretionaryDataPresent = "discretionary_data_present"
        }
    }
    /// DF8116, Book A §9.2.
    public struct UIRequestData: Codable, Sendable, Equatable {
        public var hex: String
        public var message: String
        public var messageID: String
        public var status: String
        public var holdTimeMilliseconds: Int

        enum CodingKeys: String, CodingKey {
            case hex, message, status
            case messageID = "message_id"
            case holdTimeMilliseconds = "hold_time_milliseconds"
        }
    }
    /// DF8115, Book A §6.3.
    public struct ErrorIndicationView: Codable, Sendable, Equatable {
        public var hex: String
        public var l1: String
        public var l2: String
        public var l3: String
        public var statusWord: String
        public var messageOnError: String?

        enum CodingKeys: String, CodingKey {
            case hex, l1, l2, l3
            case statusWord = "status_word"
            case messageOnError = "message_on_error"
        }
    }

    public var outcomeParameterSet: ParameterSet
    public var uiRequestOnOutcome: UIRequestData?
    public var uiRequestOnRestart: UIRequestData?
    public var errorIndication: ErrorIndicationView
    /// FF8105 and FF8106: tag → value in hex; card data masked.
    public var dataRecord: [String: String]
    public var discretionaryData: [String: String]

    enum CodingKeys: String, CodingKey {
        case outcomeParameterSet = "outcome_parameter_set"
        case uiRequestOnOutcome = "ui_request_on_outcome"
        case uiRequestOnRestart = "ui_request_on_restart"
        case errorIndication = "error_indication"
        case dataRecord = "data_record"
        case discretionaryData = "discretionary_data"
    }

    public init(_ o: Outcome) {
        let ops = o.parameterSet
        outcomeParameterSet = ParameterSet(
            hex: Hex.encode(ops.bytes), status: Self.name(ops.status), start: ops.start.rawValue, cvm: ops.cvm.rawValue,
            uiRequestOnOutcomePresent: ops.uiRequestOnOutcomePresent,
            uiRequestOnRestartPresent: ops.uiRequestOnRestartPresent,
            dataRecordPresent: ops.dataRecordPresent, discretionaryDataPresent: ops.discretionaryDataPresent,
            receipt: ops.receipt)
        uiRequestOnOutcome = o.uiRequestOnOutcome.map(Self.view)
        uiRequestOnRestart = o.uiRequestOnRestart.map(Self.view)
        let e = o.errorIndication
        errorIndication = ErrorIndicationView(
            hex: Hex.encode(e.bytes), l1: Self.name(e.l1), l2: Self.name(e.l2), l3: Self.name(e.l3),
            statusWord: String(format4: e.statusWord), messageOnError: e.messageOnError?.text)
        dataRecord = Self.masked(o.dataRecord)
        discretionaryData = Self.masked(o.discretionaryData + [TLV(tag: 0xDF8115, value: e.bytes)])
    }

    static func view(_ r: UIRequest) -> UIRequestData {
        UIRequestData(
            hex: Hex.encode(UserInterfaceRequestData(r).bytes),
            message: r.message.text.isEmpty ? "(clear display)" : r.message.text,
            messageID: Hex.encode([r.message.rawValue]), status: r.status.rawValue,
            holdTimeMilliseconds: r.holdTimeMilliseconds)
    }

    static func masked(_ objects: [TLV]) -> [String: String] {
        var out: [String: String] = [:]
        for t in objects {
            let v = Array(t.value)
            switch t.tag {
            case 0x5A: out[t.tag.hex] = CardDataMask.pan(bcd: v) ?? "<masked>"
            case 0x57, 0x9F6B: out[t.tag.hex] = CardDataMask.track2(v)
            case _ where DataDictionary.sensitiveTags.contains(t.tag): out[t.tag.hex] = "<\(v.count) bytes masked>"
            default: out[t.tag.hex] = Hex.encode(v)
            }
        }
        return out
    }

    static func name(_ s: OutcomeParameterSet.Status) -> String {
        switch s {
        case .approved: return "approved"
        case .declined: return "declined"
        case .onlineRequest: return "online_request"
        case .endApplication: return "end_application"
        case .selectNext: return "select_next"
        case .tryAnotherInterface: return "try_another_interface"
        case .tryAgain: return "try_again"
        case .notApplicable: return "n/a"
        }
    }

    static func name(_ l: ErrorIndication.L1) -> String {
        switch l {
        case .ok: return "ok"
        case .timeOutError: return "time_out_error"
        case .transmissionError: return "transmission_error"
        case .protocolError: return "protocol_error"
        }
    }

    static func name(_ l: ErrorIndication.L2) -> String {
        switch l {
        case .ok: return "ok"
        case .cardDataMissing: return "card_data_missing"
        case .camFailed: return "cam_failed"
        case .statusBytes: return "status_bytes"
        case .parsingError: return "parsing_error"
        case .maxLimitExceeded: return "max_limit_exceeded"
        case .cardDataError: return "card_data_error"
        case .magstripeNotSupported: return "magstripe_not_supported"
        case .noPPSE: return "no_ppse"
        case .ppseFault: return "ppse_fault"
        case .emptyCandidateList: return "empty_candidate_list"
        case .idsReadError: return "ids_read_error"
        case .idsWriteError: return "ids_write_error"
        case .idsDataError: return "ids_data_error"
        case .idsNoMatchingAC: return "ids_no_matching_ac"
        case .terminalDataError: return "terminal_data_error"
        }
    }

    static func name(_ l: ErrorIndication.L3) -> String {
        switch l {
        case .ok: return "ok"
        case .timeOut: return "time_out"
        case .stop: return "stop"
        case .amountNotPresent: return "amount_not_present"
        }
    }
}

extension String {
    /// Four hex digits of a status word.
    init(format4 v: UInt16) { self = Hex.encode([UInt8(v >> 8), UInt8(v & 0xFF)]) }
}
