// Everything the diagnostics read about the machine — sysfs, /proc, /dev, /etc, /usr — goes through a root directory,
// so tests build a fake tree for each field fault and a technician's run reads the real one ("/").
import Foundation

/// The machine as the diagnostics read it, under a root directory: "/" on a terminal, a fake tree in tests.
public struct SystemView: Sendable {
    /// The tree's root directory, without a trailing slash ("/" for the real machine).
    public let root: String

    /// A view of the tree under `root` (a trailing slash is dropped); the default is the real machine.
    public init(root: String = "/") {
        self.root = root.hasSuffix("/") && root.count > 1 ? String(root.dropLast()) : root
    }

    /// Whether the view reads the real machine (root "/").
    public var isLive: Bool { root == "/" }

    /// The real path of `p`, an absolute path inside the tree.
    public func path(_ p: String) -> String { root == "/" ? p : root + p }

    /// The contents of `p` as UTF-8 text; nil when it is missing or unreadable.
    public func read(_ p: String) -> String? { try? String(contentsOfFile: path(p), encoding: .utf8) }
    /// The bytes of `p`; nil when it is missing or unreadable.
    public func data(_ p: String) -> Data? { FileManager.default.contents(atPath: path(p)) }
    /// Whether `p` exists in the tree.
    public func exists(_ p: String) -> Bool { FileManager.default.fileExists(atPath: path(p)) }
    /// The names in directory `p`, sorted; empty when it is missing or unreadable.
    public func list(_ p: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path(p))) ?? []).sorted()
    }
    /// Where the symbolic link `p` points; nil when `p` is missing or not a symbolic link.
    public func link(_ p: String) -> String? { try? FileManager.default.destinationOfSymbolicLink(atPath: path(p)) }

    /// Mode bits, owner and group of a file (lstat on the tree).
    public func owner(_ p: String) -> (mode: Int, uid: Int, gid: Int)? {
        var st = stat()
        guard stat(path(p), &st) == 0 else { return nil }
        return (Int(st.st_mode & 0o7777), Int(st.st_uid), Int(st.st_gid))
    }

    /// A trimmed one-line sysfs attribute.
    public func attribute(_ p: String) -> String? { read(p)?.trimmingCharacters(in: .whitespacesAndNewlines) }

    // MARK: Accounts (from etc/passwd and etc/group of the tree)

    /// A user account from the tree's etc/passwd, with its groups from etc/group.
    public struct Account: Sendable {
        /// The login name.
        public let name: String
        /// The user ID.
        public let uid: Int
        /// The primary group ID.
        public let gid: Int
        /// Every group ID the account is in: the primary group first, then the supplementary ones.
        public let groups: [Int]
    }

    /// The account called `name` from the tree's etc/passwd and etc/group; nil when there is none.
    public func account(_ name: String) -> Account? {
        guard let passwd = read("/etc/passwd") else { return nil }
        for line in passwd.split(separator: "\n") {
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 4, f[0] == name, let uid = Int(f[2]), let gid = Int(f[3]) else { continue }
            var groups = [gid]
            for g in (read("/etc/group") ?? "").split(separator: "\n") {
                let gf = g.split(separator: ":", omittingEmptySubsequences: false)
                if gf.count >= 4, let id = Int(gf[2]), gf[3].split(separator: ",").contains(Substring(name)) {
                    groups.append(id)
                }
            }
            return Account(name: name, uid: uid, gid: gid, groups: groups)
        }
        return nil
    }

    /// The ID of group `name` from the tree's etc/group; nil when there is no such group.
    public func groupID(_ name: String) -> Int? {
        for g in (read("/etc/group") ?? "").split(separator: "\n") {
            let gf = g.split(separator: ":", omittingEmptySubsequences: false)
            if gf.count >= 3, gf[0] == name { return Int(gf[2]) }
        }
        return nil
    }

    /// Whether `account` may read and write `p` by its mode bits.
    public func canReadWrite(_ account: Account, _ p: String) -> Bool {
        guard let o = owner(p) else { return false }
        if account.uid == 0 { return true }
        if o.uid == account.uid { return o.mode & 0o600 == 0o600 }
        if account.groups.contains(o.gid) { return o.mode & 0o060 == 0o060 }
        return o.mode & 0o006 == 0o006
    }
}
