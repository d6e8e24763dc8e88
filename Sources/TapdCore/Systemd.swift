// systemd integration without libsystemd: sd_notify(3) datagrams to $NOTIFY_SOCKET (READY=1, STATUS=…, WATCHDOG=1,
// STOPPING=1; a leading @ is the abstract namespace), and the watchdog interval from $WATCHDOG_USEC.
import Foundation
import Journal
import Logging

/// Sends sd_notify(3) messages (ready, status, watchdog, stopping) to systemd when systemd runs tapd.
public struct SystemdNotifier: Sendable {
    /// The socket from $NOTIFY_SOCKET; nil when systemd did not give one, and then nothing is sent.
    public let socketPath: String?
    /// The watchdog interval from $WATCHDOG_USEC; nil when systemd's watchdog is off.
    public let watchdogInterval: Duration?

    /// Reads $NOTIFY_SOCKET and $WATCHDOG_USEC from `environment` (the process's by default).
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        watchdogInterval = environment["WATCHDOG_USEC"].flatMap { UInt64($0) }.flatMap {
            $0 > 0 ? .microseconds(Int64($0)) : nil
        }
    }

    /// Sends one datagram (e.g. "READY=1"); false when there is no socket or it could not be sent whole.
    @discardableResult
    public func notify(_ message: String) -> Bool {
        guard let socketPath else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var path = Array(socketPath.utf8)
        if path.first == UInt8(ascii: "@") { path[0] = 0 }
        guard path.count < MemoryLayout.size(ofValue: addr.sun_path) else { return false }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in path.enumerated() { p[i] = b } }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count)
        let bytes = Array(message.utf8)
        let sent = withUnsafePointer(to: &addr) { a in
            a.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, bytes.count, 0, sa, length) }
            }
        }
        return sent == bytes.count
    }
}

/// Log lines for journald when running under systemd ("<6>message key=value", the priority prefix journald reads),
/// plain "time level message" otherwise; always on stderr. Messages never carry card data (masked PANs only).
public struct StderrLogHandler: LogHandler {
    /// Messages below this level are not written.
    public var logLevel: Logger.Level = .info
    /// Metadata written as key=value after every message.
    public var metadata: Logger.Metadata = [:]
    let label: String
    let journald: Bool

    /// A handler for `label`; `journald` (default: $JOURNAL_STREAM is set) prefixes each line with its priority.
    public init(label: String, journald: Bool = ProcessInfo.processInfo.environment["JOURNAL_STREAM"] != nil) {
        self.label = label
        self.journald = journald
    }

    /// One item of the handler's metadata.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes the event as one line on stderr.
    public func log(event: LogEvent) {
        write(level: event.level, message: event.message, metadata: event.metadata)
    }

    func write(level: Logger.Level, message: Logger.Message, metadata extra: Logger.Metadata?) {
        let all = metadata.merging(extra ?? [:]) { $1 }
        let fields = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let text = fields.isEmpty ? "\(message)" : "\(message) \(fields)"
        let out: String
        if journald {
            let priority: Int =
                switch level {
                case .trace, .debug: 7
                case .info: 6
                case .notice: 5
                case .warning: 4
                case .error: 3
                case .critical: 2
                }
            out = "<\(priority)>\(text)\n"
        } else {
            // Not Date.ISO8601Format: it builds a Gregorian calendar, which looks up the local time zone in ICU.
            out = "\(UTCTime.iso8601(Date(), milliseconds: true)) \(level) \(label): \(text)\n"
        }
        FileHandle.standardError.write(Data(out.utf8))
    }
}
