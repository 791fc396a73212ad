@testable import BindsnoopCore
import CBindsnoop
import Glibc
import Testing

/// The inventory's records, as the iterator writes one per descriptor,
/// made into one entry per socket.
@Suite struct InventoryGroupingTests {
    static func record(inode: UInt64, pid: UInt32, start: UInt64, type: Int32 = Int32(SOCK_STREAM.rawValue),
                       state: UInt8 = 10) -> inventory_socket {
        var record = inventory_socket()
        record.event.socket_inode = inode
        record.state = state
        record.event.pid = pid
        record.event.start_ns = start
        record.event.sock_type = UInt16(type)
        record.event.bound_port = 8080
        return record
    }

    @Test func oneEntryPerSocketOwnedByTheHolderThatStartedFirst() {
        let records = [
            Self.record(inode: 7, pid: 300, start: 2_000),  // the child, listed first
            Self.record(inode: 7, pid: 200, start: 1_000),  // its parent: the owner
            Self.record(inode: 7, pid: 200, start: 1_000),  // a second descriptor of the parent (dup)
            Self.record(inode: 9, pid: 50, start: 5_000),
            Self.record(inode: 9, pid: 40, start: 5_000),   // the same start: the lower pid
        ]
        let sockets = Inventory.group(records)
        #expect(sockets.map(\.inode) == [7, 9], "in the order first seen")
        #expect(sockets.map(\.record.raw.pid) == [200, 40])
        #expect(sockets.map(\.holders) == [2, 2], "processes, not descriptors")
    }

    @Test func serversSocketsAreBoundClientsAreNot() {
        let dgram = Int32(SOCK_DGRAM.rawValue)
        #expect(Inventory.isBound(Self.record(inode: 1, pid: 1, start: 0, state: 10)), "TCP listening")
        #expect(Inventory.isBound(Self.record(inode: 1, pid: 1, start: 0, state: 7)), "TCP bound, not listening")
        #expect(!Inventory.isBound(Self.record(inode: 1, pid: 1, start: 0, state: 1)), "TCP established: a client or an accepted connection")
        #expect(Inventory.isBound(Self.record(inode: 1, pid: 1, start: 0, type: dgram, state: 7)), "UDP unconnected")
        #expect(!Inventory.isBound(Self.record(inode: 1, pid: 1, start: 0, type: dgram, state: 1)), "UDP connected")
    }

    @Test func theTracingFiltersApply() {
        let socket = Inventory.group([Self.record(inode: 1, pid: 42, start: 0)])[0]
        #expect(Inventory.passes(socket, filter: KernelFilter()))
        #expect(Inventory.passes(socket, filter: KernelFilter(pid: 42, ports: [8080])))
        #expect(!Inventory.passes(socket, filter: KernelFilter(pid: 43)))
        #expect(!Inventory.passes(socket, filter: KernelFilter(ports: [22])))
        #expect(!Inventory.passes(socket, filter: KernelFilter(outcome: .failure)), "a bound socket is no failure")
    }

    @Test func aFilterChoosesAmongTheHoldersThatPassIt() {
        let records = [
            Self.record(inode: 7, pid: 200, start: 1_000),  // the parent, filtered out
            Self.record(inode: 7, pid: 300, start: 2_000),  // the child the filter names
            Self.record(inode: 9, pid: 200, start: 1_000),  // held by the parent only
        ]
        let sockets = Inventory.group(records, filter: KernelFilter(pid: 300))
        #expect(sockets.map(\.inode) == [7])
        #expect(sockets.map(\.record.raw.pid) == [300], "the holder that passes, even if another started first")
        #expect(sockets.map(\.holders) == [2], "every holder is counted")
    }
}
