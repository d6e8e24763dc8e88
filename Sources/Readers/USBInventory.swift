// Which NFC readers are plugged in, which software stack can drive each, and who holds it now. Devices come from
// libusb; who holds an interface comes from sysfs (/sys/bus/usb/devices/<bus>-<ports>:<config>.<interface>/driver):
// `pn533_usb` (the kernel NFC stack took it, so neither pcscd nor libnfc can), `usbfs` (a user-space program —
// pcscd's CCID driver or libnfc — claimed it), or nothing. USB ids: reader-stack notes §3.1 (libnfc's
// pn53x_usb/acr122_usb tables, Linux drivers/nfc/pn533/usb.c, CCID's supported_readers list).

import CLibUSB
import Foundation

/// A software stack that can drive a USB NFC reader.
public enum ReaderStack: String, Sendable, Codable, CaseIterable {
    case pcsc = "pcsc"  // pcscd with the CCID driver
    case libnfc = "libnfc"  // libnfc's own USB driver
    case kernel = "kernel"  // Linux pn533_usb (NFC sockets; not used by tapd)
}

/// A USB NFC reader model tapd recognises by vendor and product id, with the stacks that can drive it.
public struct KnownReader: Sendable, Equatable {
    /// The USB vendor id (idVendor).
    public let vendorID: UInt16
    /// The USB product id (idProduct).
    public let productID: UInt16
    /// The model's name, e.g. "ACS ACR122U".
    public let name: String
    /// The stacks that can drive this model.
    public let stacks: [ReaderStack]
    /// The libnfc driver name for a connstring (acr122_usb, pn53x_usb), when libnfc can drive it.
    public let libnfcDriver: String?
    /// Advice for whoever installs the reader (driver quirks, APDU limits), or nil.
    public let note: String?
}

/// A known reader found on the USB bus, with the drivers bound to its interfaces.
public struct USBReaderDevice: Sendable, Equatable {
    /// The USB bus number.
    public let bus: Int
    /// The device address on its bus (reassigned when the reader is replugged).
    public let address: Int
    /// The sysfs name: bus-port.port… (e.g. "1-1.4").
    public let path: String
    /// The USB vendor id.
    public let vendorID: UInt16
    /// The USB product id.
    public let productID: UInt16
    /// The known model this device is.
    public let reader: KnownReader
    /// Drivers bound to its interfaces, e.g. ["pn533_usb"] or ["usbfs"]; empty when none is.
    public let interfaceDrivers: [String]

    /// The USB id as "vvvv:pppp" in hex, e.g. "072f:2200".
    public var id: String { String(format: "%04x:%04x", vendorID, productID) }
    /// The kernel's NFC driver holds it: pcscd and libnfc get "resource busy" until it is unbound or blacklisted.
    public var heldByKernelNFC: Bool { interfaceDrivers.contains { $0.hasPrefix("pn533") } }
    /// A user-space program (pcscd/libccid or libnfc) has claimed it.
    public var claimedByUserSpace: Bool { interfaceDrivers.contains("usbfs") }
}

/// A libusb failure (init, device list, hot-plug registration), or a libusb built without hot-plug support.
public struct USBError: Error, Sendable, CustomStringConvertible {
    /// What failed, with libusb's error name when there is one.
    public let description: String
}

/// The USB NFC readers tapd knows, which of them are plugged in, and what stops a stack from driving them.
public enum USBInventory {
    /// Every reader model tapd recognises on USB, with the stacks that can drive it.
    public static let knownReaders: [KnownReader] = [
        KnownReader(
            vendorID: 0x072F, productID: 0x2200, name: "ACS ACR122U", stacks: [.libnfc, .pcsc, .kernel],
            libnfcDriver: "acr122_usb",
            note: "CCID lists it as unsupported; libnfc's acr122_usb is the reliable path. Blacklist pn533_usb."),
        KnownReader(
            vendorID: 0x072F, productID: 0x90CC, name: "ACS ACR122 / Touchatag (SAM)", stacks: [.libnfc],
            libnfcDriver: "acr122_usb", note: nil),
        KnownReader(
            vendorID: 0x072F, productID: 0x223B, name: "ACS ACR1252U (dual: PICC + SAM)", stacks: [.pcsc],
            libnfcDriver: nil,
            note: "PC/SC only; libnfc does not support it."),
        KnownReader(
            vendorID: 0x072F, productID: 0x223E, name: "ACS ACR1252U", stacks: [.pcsc], libnfcDriver: nil,
            note: "PC/SC only."),
        KnownReader(
            vendorID: 0x072F, productID: 0x2259, name: "ACS ACR1252IMP", stacks: [.pcsc], libnfcDriver: nil, note: nil),
        KnownReader(
            vendorID: 0x04CC, productID: 0x2533, name: "NXP PN533", stacks: [.libnfc, .kernel],
            libnfcDriver: "pn53x_usb",
            note: "Not CCID: pcscd cannot drive it. Blacklist pn533_usb."),
        KnownReader(
            vendorID: 0x04E6, productID: 0x5591, name: "SCM SCL3711 (PN533)", stacks: [.libnfc, .kernel],
            libnfcDriver: "pn53x_usb",
            note: "Not CCID: pcscd cannot drive it. Blacklist pn533_usb."),
        KnownReader(
            vendorID: 0x04E6, productID: 0x5594, name: "SCM SCL3712", stacks: [.libnfc], libnfcDriver: "pn53x_usb",
            note: nil),
        KnownReader(
            vendorID: 0x054C, productID: 0x02E1, name: "Sony RC-S360 PaSoRi", stacks: [.libnfc, .kernel],
            libnfcDriver: "pn53x_usb", note: nil),
        KnownReader(
            vendorID: 0x04E6, productID: 0x5790, name: "Identiv uTrust 3700 F", stacks: [.pcsc], libnfcDriver: nil,
            note: "Extended APDUs."),
        KnownReader(
            vendorID: 0x04E6, productID: 0x5791, name: "Identiv uTrust 3701 F", stacks: [.pcsc], libnfcDriver: nil,
            note: "Extended APDUs."),
        KnownReader(
            vendorID: 0x04E6, productID: 0x5612, name: "Identiv uTrust 3720 F", stacks: [.pcsc], libnfcDriver: nil,
            note: "Short APDUs only."),
        KnownReader(
            vendorID: 0x04E6, productID: 0x5613, name: "Identiv uTrust 3721 F", stacks: [.pcsc], libnfcDriver: nil,
            note: "Short APDUs only."),
        KnownReader(
            vendorID: 0x04E6, productID: 0x5724, name: "Identiv uTrust 4701 F", stacks: [.pcsc], libnfcDriver: nil,
            note: nil),
        KnownReader(
            vendorID: 0x076B, productID: 0x5022, name: "HID OMNIKEY 5022 CL", stacks: [.pcsc], libnfcDriver: nil,
            note: nil),
        KnownReader(
            vendorID: 0x076B, productID: 0x5422, name: "HID OMNIKEY 5422", stacks: [.pcsc], libnfcDriver: nil, note: nil
        ),
        KnownReader(
            vendorID: 0x076B, productID: 0x502A, name: "HID OMNIKEY 5025-CL", stacks: [.pcsc], libnfcDriver: nil,
            note: nil),
        KnownReader(
            vendorID: 0x076B, productID: 0x5427, name: "HID OMNIKEY 5427 CK", stacks: [.pcsc], libnfcDriver: nil,
            note: nil),
        KnownReader(
            vendorID: 0x076B, productID: 0x5127, name: "HID OMNIKEY 5127 CK", stacks: [.pcsc], libnfcDriver: nil,
            note: nil),
    ]

    /// The known reader model with this USB vendor and product id, or nil.
    public static func known(vendorID: UInt16, productID: UInt16) -> KnownReader? {
        knownReaders.first { $0.vendorID == vendorID && $0.productID == productID }
    }

    /// The NFC readers on the USB bus now.
    public static func scan(sysfs: String = "/sys/bus/usb/devices") throws -> [USBReaderDevice] {
        var ctx: OpaquePointer?
        let rv = libusb_init(&ctx)
        guard rv == 0 else { throw USBError(description: "libusb_init: \(String(cString: libusb_error_name(rv)))") }
        defer { libusb_exit(ctx) }
        var list: UnsafeMutablePointer<OpaquePointer?>?
        let n = libusb_get_device_list(ctx, &list)
        guard n >= 0, let list else {
            throw USBError(description: "libusb_get_device_list: \(String(cString: libusb_error_name(Int32(n))))")
        }
        defer { libusb_free_device_list(list, 1) }
        var found: [USBReaderDevice] = []
        for i in 0..<Int(n) {
            guard let dev = list[i] else { continue }
            var d = libusb_device_descriptor()
            guard libusb_get_device_descriptor(dev, &d) == 0,
                let reader = known(vendorID: d.idVendor, productID: d.idProduct)
            else { continue }
            var ports = [UInt8](repeating: 0, count: 8)
            let depth = libusb_get_port_numbers(dev, &ports, Int32(ports.count))
            let bus = Int(libusb_get_bus_number(dev))
            let path =
                depth > 0 ? "\(bus)-" + ports.prefix(Int(depth)).map { String($0) }.joined(separator: ".") : "usb\(bus)"
            found.append(
                USBReaderDevice(
                    bus: bus, address: Int(libusb_get_device_address(dev)), path: path, vendorID: d.idVendor,
                    productID: d.idProduct, reader: reader, interfaceDrivers: interfaceDrivers(path: path, sysfs: sysfs)
                ))
        }
        return found.sorted { ($0.bus, $0.address) < ($1.bus, $1.address) }
    }

    /// Drivers bound to the interfaces of the device at `path` ("1-1.4" → 1-1.4:1.0/driver, …), read from sysfs.
    public static func interfaceDrivers(path: String, sysfs: String = "/sys/bus/usb/devices") -> [String] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: sysfs) else { return [] }
        let prefix = path + ":"
        var drivers: [String] = []
        for e in entries.sorted() where e.hasPrefix(prefix) {
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(sysfs)/\(e)/driver") {
                let name = (target as NSString).lastPathComponent
                if !name.isEmpty, !drivers.contains(name) { drivers.append(name) }
            }
        }
        return drivers
    }

    /// What is wrong with a reader, as a technician would fix it; nil when it is ready for `stack`.
    public static func problem(_ d: USBReaderDevice, wanted stack: ReaderStack) -> String? {
        if !d.reader.stacks.contains(stack) {
            return
                "\(d.reader.name) (\(d.id)) cannot be driven by \(stack.rawValue); use \(d.reader.stacks.filter { $0 != .kernel }.map(\.rawValue).joined(separator: " or "))"
        }
        if d.heldByKernelNFC {
            return
                "the kernel's pn533_usb driver holds \(d.reader.name) at \(d.path): blacklist it (Udev/ and Firmware-Notes/) and replug"
        }
        return nil
    }
}

/// USB hot-plug for known readers through libusb's hot-plug callbacks (netlink/udev underneath, no polling): an
/// event when a reader is plugged in or pulled out, and one for each reader already present when it starts.
public final class USBHotplug: @unchecked Sendable {
    /// A known reader plugged in (or already present at start) or pulled out, with its USB ids, bus, address and model
    /// name.
    public enum Event: Sendable, Equatable {
        case arrived(vendorID: UInt16, productID: UInt16, bus: Int, address: Int, reader: String)
        case left(vendorID: UInt16, productID: UInt16, bus: Int, address: Int, reader: String)
    }

    /// Whether this libusb can report hot-plug at all (built with netlink or udev support).
    public static var supported: Bool { libusb_has_capability(UInt32(LIBUSB_CAP_HAS_HOTPLUG.rawValue)) != 0 }

    /// Hot-plug events for known readers; finishes after stop() (the newest 256 are kept if nobody reads).
    public let events: AsyncStream<Event>
    private let continuation: AsyncStream<Event>.Continuation
    private let context: OpaquePointer
    private var handle: libusb_hotplug_callback_handle = 0
    private let lock = NSLock()
    private var running = true
    private let thread = DispatchSemaphore(value: 0)

    /// Registers for libusb hot-plug and starts the event thread; throws USBError when libusb lacks hot-plug support or
    /// fails to start.
    public init() throws {
        guard USBHotplug.supported else { throw USBError(description: "this libusb has no hot-plug support") }
        var ctx: OpaquePointer?
        let rv = libusb_init(&ctx)
        guard rv == 0, let ctx else {
            throw USBError(description: "libusb_init: \(String(cString: libusb_error_name(rv)))")
        }
        context = ctx
        (events, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingNewest(256))
        let me = Unmanaged.passUnretained(self).toOpaque()
        let events = Int32(LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED.rawValue | LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT.rawValue)
        let r = libusb_hotplug_register_callback(
            ctx, events, Int32(LIBUSB_HOTPLUG_ENUMERATE.rawValue),
            LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY,
            { _, device, event, user in
                guard let device, let user else { return 0 }
                Unmanaged<USBHotplug>.fromOpaque(user).takeUnretainedValue().deliver(device, event)
                return 0
            }, me, &handle)
        guard r == 0 else {
            libusb_exit(ctx)
            throw USBError(description: "libusb_hotplug_register_callback: \(String(cString: libusb_error_name(r)))")
        }
        // libusb delivers callbacks from the thread that handles its events: one of our own, blocked in libusb until
        // something happens; stop() interrupts it.
        let t = Thread { [self] in
            while lock.withLock({ running }) {
                var completed: Int32 = 0
                libusb_handle_events_completed(context, &completed)
            }
            thread.signal()
        }
        t.name = "tapd.usb.hotplug"
        t.start()
    }

    private func deliver(_ device: OpaquePointer, _ event: libusb_hotplug_event) {
        var d = libusb_device_descriptor()
        guard libusb_get_device_descriptor(device, &d) == 0,
            let reader = USBInventory.known(vendorID: d.idVendor, productID: d.idProduct)
        else { return }
        let bus = Int(libusb_get_bus_number(device))
        let address = Int(libusb_get_device_address(device))
        if event == LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED {
            continuation.yield(
                .arrived(vendorID: d.idVendor, productID: d.idProduct, bus: bus, address: address, reader: reader.name))
        } else {
            continuation.yield(
                .left(vendorID: d.idVendor, productID: d.idProduct, bus: bus, address: address, reader: reader.name))
        }
    }

    /// Stops hot-plug delivery, waits for the event thread to end and finishes `events`; later calls do nothing.
    public func stop() {
        let was = lock.withLock {
            let r = running
            running = false
            return r
        }
        guard was else { return }
        libusb_hotplug_deregister_callback(context, handle)
        libusb_interrupt_event_handler(context)
        thread.wait()
        libusb_exit(context)
        continuation.finish()
    }

    deinit { stop() }
}
