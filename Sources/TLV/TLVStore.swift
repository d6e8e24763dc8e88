// The data a transaction has gathered, by tag: what the card returned (FCI, GPO, records) and what the terminal
// supplies. Templates are flattened into their primitives; the first occurrence of a tag is kept and a repeat is
// reported, because Book 3 §10.2 treats redundant primitive objects in records as a card error.

public struct TLVStore: Sendable {
    private var values: [Tag: [UInt8]] = [:]
    public private(set) var order: [Tag] = []

    public init() {}

    /// A store with room for `capacity` objects (a transaction holds 60–100), so it is not regrown as it fills.
    public init(capacity: Int) {
        values.reserveCapacity(capacity)
        order.reserveCapacity(capacity)
    }

    public subscript(tag: Tag) -> [UInt8]? {
        get { values[tag] }
        set {
            if let v = newValue {
                if values[tag] == nil { order.append(tag) }
                values[tag] = v
            } else if values.removeValue(forKey: tag) != nil {
                order.removeAll { $0 == tag }
            }
        }
    }

    public func contains(_ tag: Tag) -> Bool { values[tag] != nil }

    /// Adds the primitives of `objects` (descending into templates). Returns the tags that were already present
    /// with a value and were left unchanged.
    @discardableResult
    public mutating func add(_ objects: [TLV]) -> [Tag] {
        var repeated: [Tag] = []
        for o in objects {
            if !o.children.isEmpty || (o.tag.isConstructed && o.value.isEmpty) {
                repeated += add(o.children)
                continue
            }
            // Book 3 §5.2: a data object of zero length is treated as not present.
            if o.value.isEmpty { continue }
            if values[o.tag] != nil {
                repeated.append(o.tag)
                continue
            }
            self[o.tag] = Array(o.value)
        }
        return repeated
    }

    public var count: Int { values.count }
}
