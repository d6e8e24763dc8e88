// The one seam between the kernel and a reader: something that carries APDUs to a card and back.
// PC/SC, libnfc, the in-process virtual cards and the scripted test channel all implement it; the kernel never
// knows which one it talks to.

/// Raw transport of one encoded C-APDU to the card and its R-APDU (data ‖ SW1 SW2) back.
public protocol CardChannel: Sendable {
    func transmit(_ command: [UInt8]) async throws -> [UInt8]
}

public enum CardError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The card or phone left the field (PC/SC SCARD_W_REMOVED_CARD, libnfc target lost).
    case cardRemoved
    /// The card did not answer in time.
    case timeout
    /// The reader or its stack failed; the text says how.
    case transport(String)
    /// The answer is not a well-formed R-APDU.
    case malformedResponse(String)
    /// A command too large for the channel (or the reader).
    case commandTooLong(Int)
    /// The response grew past `CardTransport.maxResponseLength`, or chained 61xx answers did not end.
    case responseTooLong(Int)
    /// The transaction was cancelled while waiting for the card.
    case cancelled

    public var description: String {
        switch self {
        case .cardRemoved: return "card removed"
        case .timeout: return "card did not answer in time"
        case .transport(let s): return "reader error: \(s)"
        case .malformedResponse(let s): return "malformed response: \(s)"
        case .commandTooLong(let n): return "command of \(n) bytes is too long for this channel"
        case .responseTooLong(let n): return "response exceeds \(n) bytes"
        case .cancelled: return "cancelled"
        }
    }
}
