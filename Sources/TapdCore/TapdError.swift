// TapdCore's one error shape: what the point of sale's API answers with, and what a configuration or a kernel's
// outcome that cannot be used throws. A journal failure keeps the
// journal's own error as its cause (the API and logs say it in words); nothing is flattened to text on the way.
import Journal

/// Why a sale, a void, a cancel or a store-and-forward operation could not be done.
public enum TapdError: Error, CustomStringConvertible {
    /// The request itself is wrong (HTTP 422).
    case invalid(String)
    /// It conflicts with the state of things (HTTP 409).
    case conflict(String)
    /// No transaction with this id (HTTP 404).
    case notFound(String)
    /// Something else that does not exist (a store-and-forward entry), said in full (HTTP 404).
    case missing(String)
    /// Not possible now: no reader, no acquirer, shutting down (HTTP 503).
    case unavailable(String)
    /// The journal refused or failed; its error is kept (HTTP 409 for a refused transition, else 503).
    case journal(JournalError)
    /// The configuration cannot be used; the file, line and key are kept (never an API answer: tapd stops, or
    /// a reload keeps the old configuration).
    case configuration(ConfigurationError)
    /// Card data in a kernel's outcome that cannot go into an acquirer message (the sale fails with this reason).
    case cardData(String)

    /// A configuration error in `file`, at `line` and `key` when they are known.
    public static func badConfiguration(file: String, line: Int?, key: String?, message: String) -> TapdError {
        .configuration(ConfigurationError(file: file, line: line, key: key, message: message))
    }

    /// The error in words, as the API reports it.
    public var description: String {
        switch self {
        case .invalid(let s), .conflict(let s), .unavailable(let s), .missing(let s): s
        case .notFound(let id): "no transaction \(id)"
        case .journal(let e): e.description
        case .configuration(let e): e.description
        case .cardData(let s): "card data unusable: \(s)"
        }
    }

    /// The HTTP status the API answers with.
    public var httpStatus: Int {
        switch self {
        case .invalid: 422
        case .conflict: 409
        case .notFound, .missing: 404
        case .unavailable: 503
        case .configuration, .cardData: 500  // not answers to an API request (see the cases)
        case .journal(let e):
            switch e {
            case .invalidTransition, .followUpExists, .followUpInFlight, .refundExceedsOriginal, .notRefundable,
                .moneyConflict:
                409
            case .notFound: 404
            case .storage, .sealedDataUnreadable, .wrongKey, .key: 503
            }
        }
    }
}
