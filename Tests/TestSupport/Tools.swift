// Running a command-line tool from a test: its exit status and everything it printed (stdout and stderr together).
// The child never inherits the test runner's stdout, which would keep `swift test` waiting.
import Foundation

public enum Tool {
    /// The directory of the built products (tapd, tapctl, tapd-vicc sit next to the test bundle).
    public static var buildDirectory: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
    }

    /// `timeout`: the tool is terminated after this long (a test about a hang must not hang itself).
    @discardableResult
    public static func run(
        _ executable: String, _ arguments: [String], input: String? = nil, environment: [String: String] = [:],
        directory: String? = nil, timeout: Duration? = nil
    ) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        let stdin = Pipe()
        p.standardInput = stdin
        try p.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        let killer = DispatchWorkItem { if p.isRunning { p.terminate() } }
        if let timeout {
            DispatchQueue.global().asyncAfter(
                deadline: .now() + .seconds(Int(timeout.components.seconds)), execute: killer)
        }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        killer.cancel()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
