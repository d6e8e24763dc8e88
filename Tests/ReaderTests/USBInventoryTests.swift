// The reader table is checked against the CCID driver installed on this machine (libccid's Info.plist, what
// pcscd actually loads); the sysfs reading against a tree laid out like /sys/bus/usb/devices; the scan against the
// real libusb (this machine may have no USB bus at all: then the list is empty, not an error).

import Foundation
import XCTest

@testable import Readers

final class USBInventoryTests: XCTestCase {
    func testTableAgreesWithTheInstalledCCIDDriver() throws {
        let plist = "/usr/lib/pcsc/drivers/ifd-ccid.bundle/Contents/Info.plist"
        let data = try XCTUnwrap(FileManager.default.contents(atPath: plist), "libccid is not installed")
        let d = try XCTUnwrap(try PropertyListSerialization.propertyList(from: data, format: nil) as? [String: Any])
        let vids = try XCTUnwrap(d["ifdVendorID"] as? [String])
        let pids = try XCTUnwrap(d["ifdProductID"] as? [String])
        let ccid = Set(
            zip(vids, pids).compactMap { v, p -> String? in
                guard let v = UInt16(v.dropFirst(2), radix: 16), let p = UInt16(p.dropFirst(2), radix: 16) else {
                    return nil
                }
                return String(format: "%04x:%04x", v, p)
            })
        XCTAssertGreaterThan(ccid.count, 300)
        var seen = Set<String>()
        for r in USBInventory.knownReaders {
            let id = String(format: "%04x:%04x", r.vendorID, r.productID)
            XCTAssertTrue(seen.insert(id).inserted, "\(id) listed twice")
            if r.stacks.contains(.pcsc) {
                XCTAssertTrue(ccid.contains(id), "\(r.name) \(id) is marked PC/SC but CCID does not list it")
            }
            // 072f:90cc is also the id of the ACR38U-CCID, which CCID drives; the Touchatag is not CCID.
            if !r.stacks.contains(.pcsc), id != "072f:90cc" {
                XCTAssertFalse(ccid.contains(id), "\(r.name) \(id) is CCID after all")
            }
            if r.stacks.contains(.libnfc) { XCTAssertNotNil(r.libnfcDriver, r.name) }
        }
        for name in ["ACR122U", "ACR1252U", "SCL3711", "PN533", "Identiv", "OMNIKEY"] {
            XCTAssertTrue(USBInventory.knownReaders.contains { $0.name.contains(name) }, name)
        }
    }

    func testInterfaceDriversFromSysfs() throws {
        let root = NSTemporaryDirectory() + "tapd-sysfs-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let fm = FileManager.default
        for dir in [
            "1-1.4", "1-1.4:1.0", "1-1.4:1.1", "1-1.40", "1-1.40:1.0", "2-3", "2-3:1.0", "drivers/pn533_usb",
            "drivers/usbfs",
        ] {
            try fm.createDirectory(atPath: "\(root)/\(dir)", withIntermediateDirectories: true)
        }
        try fm.createSymbolicLink(atPath: "\(root)/1-1.4:1.0/driver", withDestinationPath: "../drivers/pn533_usb")
        try fm.createSymbolicLink(atPath: "\(root)/1-1.40:1.0/driver", withDestinationPath: "../drivers/usbfs")
        XCTAssertEqual(
            USBInventory.interfaceDrivers(path: "1-1.4", sysfs: root), ["pn533_usb"], "1-1.40 is another device")
        XCTAssertEqual(USBInventory.interfaceDrivers(path: "1-1.40", sysfs: root), ["usbfs"])
        XCTAssertEqual(USBInventory.interfaceDrivers(path: "2-3", sysfs: root), [])
        XCTAssertEqual(USBInventory.interfaceDrivers(path: "9-9", sysfs: root + "/missing"), [])

        let acr = try XCTUnwrap(USBInventory.known(vendorID: 0x072F, productID: 0x2200))
        let held = USBReaderDevice(
            bus: 1, address: 5, path: "1-1.4", vendorID: 0x072F, productID: 0x2200, reader: acr,
            interfaceDrivers: ["pn533_usb"])
        XCTAssertTrue(held.heldByKernelNFC)
        XCTAssertTrue(USBInventory.problem(held, wanted: .libnfc)?.contains("blacklist") == true)
        let acr1252 = try XCTUnwrap(USBInventory.known(vendorID: 0x072F, productID: 0x223B))
        let free = USBReaderDevice(
            bus: 1, address: 6, path: "1-2", vendorID: 0x072F, productID: 0x223B, reader: acr1252,
            interfaceDrivers: ["usbfs"])
        XCTAssertNil(USBInventory.problem(free, wanted: .pcsc))
        XCTAssertTrue(USBInventory.problem(free, wanted: .libnfc)?.contains("use pcsc") == true)
    }

    func testScanWithTheRealLibusb() throws {
        let devices = try USBInventory.scan()
        for d in devices {
            XCTAssertNotNil(USBInventory.known(vendorID: d.vendorID, productID: d.productID))
            XCTAssertTrue(d.path.hasPrefix("\(d.bus)-"))
        }
    }

    /// No USB device can be plugged in on a CI machine, so this checks what can run here: the real libusb accepts the
    /// hot-plug registration, enumerates what is present (only known readers are reported), and stops promptly.
    func testHotplugWatcherStartsAndStops() async throws {
        guard USBHotplug.supported else { throw XCTSkip("this libusb has no hot-plug support") }
        let watcher = try USBHotplug()
        let collected = Task {
            var seen: [USBHotplug.Event] = []
            for await e in watcher.events { seen.append(e) }
            return seen
        }
        try await Task.sleep(for: .milliseconds(200))
        watcher.stop()
        let seen = await collected.value
        let present = try USBInventory.scan()
        XCTAssertEqual(seen.count, present.count, "one arrival per known reader already plugged in")
        for case .arrived(let v, let p, _, _, _) in seen {
            XCTAssertNotNil(USBInventory.known(vendorID: v, productID: p))
        }
    }
}
