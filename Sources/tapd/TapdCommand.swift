// tapd: the daemon executable. Argument parsing and wiring only.
import ArgumentParser
import EMVKernel
import TapdCore

@main
struct Tapd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tapd",
        abstract: "tapd, a contactless payment terminal daemon for Linux.",
        version: TapdVersion.string,
        subcommands: [Run.self, Demo.self],
        defaultSubcommand: Run.self)
}
