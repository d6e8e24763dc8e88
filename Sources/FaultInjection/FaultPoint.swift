// Named points where a test may kill the process (SIGKILL, no clean-up), to prove that every journal transition
// and every socket write is recoverable: the crash matrix runs a real tapd with TAPD_FAULT=<point> and restarts it.
// Only debug builds read the variable; a release build (what a terminal runs) compiles every point to nothing.
import Foundation

/// Named points where a crash test may kill tapd (TAPD_FAULT); release builds compile them to nothing.
public enum FaultPoint {
    #if DEBUG
        /// The point named in TAPD_FAULT, read once.
        static let armed: String? = ProcessInfo.processInfo.environment["TAPD_FAULT"].flatMap { $0.isEmpty ? nil : $0 }
    #endif

    /// Dies here when TAPD_FAULT names this point (debug builds only).
    @inline(__always)
    public static func hit(_ name: @autoclosure () -> String) {
        #if DEBUG
            guard let armed, armed == name() else { return }
            FileHandle.standardError.write(Data("tapd: fault injection: SIGKILL at \(armed)\n".utf8))
            kill(getpid(), SIGKILL)
        #endif
    }
}
