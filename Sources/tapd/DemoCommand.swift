import ArgumentParser
import Foundation
import EMVKernel
import Simulators

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a demonstration with no hardware: a virtual card, real signatures, real cryptograms.")

    func run() async throws {
        let now = Date()
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "UTC")!
        let c = cal.dateComponents([.year, .month, .day], from: now)
        guard let date = EMVDate(year: c.year!, month: c.month!, day: c.day!) else { throw ExitCode(2) }
        let ok = try await KernelDemo.run(date: date) { print($0) }
        if !ok { throw ExitCode(1) }
    }
}
