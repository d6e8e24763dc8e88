// The one rule for every file that holds a secret (the journal key, the acquirer link's TLS client key): a regular
// file, not a symbolic link, owned by the user tapd runs as (or root), readable by that owner alone (mode 0600 or
// 0400). A file that breaks the rule is refused with the command that fixes it. The file is opened once with
// O_NOFOLLOW and checked through that descriptor, so what is checked is what is read.
import Foundation
import Glibc

/// Reads secret files (journal key, TLS client key) only when they are regular files readable by their owner alone.
public enum KeyFile {
    /// A key file refused by the rule, with the reason (and the command that fixes it, when there is one); thrown as
    /// `CryptoError.keyFileRefused`.
    public struct Refused: CustomStringConvertible, Equatable, Sendable {
        /// The path of the refused file, as given.
        public let path: String
        /// Why the file was refused.
        public let why: String
        /// The path and the reason, as "path: reason".
        public var description: String { "\(path): \(why)" }
    }

    /// The file's bytes, once it passed the rule. `maxSize` bounds what is read (a key is small).
    public static func read(_ path: String, maxSize: Int = 64 * 1024) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            let e = errno
            if e == ELOOP {
                throw CryptoError.keyFileRefused(Refused(path: path, why: "is a symbolic link; name the file itself"))
            }
            if e == ENOENT { throw CryptoError.keyFileRefused(Refused(path: path, why: "does not exist")) }
            throw CryptoError.keyFileRefused(
                Refused(path: path, why: "cannot be opened (\(String(cString: strerror(e))))"))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw CryptoError.keyFileRefused(Refused(path: path, why: "cannot be examined"))
        }
        try check(st, path: path)
        guard st.st_size <= maxSize else {
            throw CryptoError.keyFileRefused(Refused(path: path, why: "is \(st.st_size) bytes, too large for a key"))
        }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + done, $0.count - done) }
            guard n > 0 else { throw CryptoError.keyFileRefused(Refused(path: path, why: "cannot be read")) }
            done += n
        }
        return bytes
    }

    /// The rule itself, on a file's status.
    static func check(_ st: stat, path: String) throws {
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw CryptoError.keyFileRefused(Refused(path: path, why: "is not a regular file"))
        }
        let me = geteuid()
        guard st.st_uid == me || st.st_uid == 0 else {
            throw CryptoError.keyFileRefused(
                Refused(
                    path: path, why: "belongs to uid \(st.st_uid), not to the user tapd runs as (chown \(me) \(path))"))
        }
        let mode = st.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw CryptoError.keyFileRefused(
                Refused(
                    path: path,
                    why: "has mode \(String(mode, radix: 8)); only its owner may read it (chmod 600 \(path))"))
        }
    }
}
