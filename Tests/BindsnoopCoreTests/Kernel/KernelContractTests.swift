@testable import BindsnoopCore
import CBindsnoop
import Foundation
import Testing

/// The names user space uses against the embedded object itself: opened,
/// not loaded, so no root is needed.
@Suite struct KernelContractTests {
    private func withObject(_ body: (OpaquePointer) throws -> Void) throws {
        let bytes = try #require(Data(base64Encoded: BindsnoopBPFObject.base64))
        try bytes.withUnsafeBytes { raw in
            let object = try #require(bindsnoop_open_object(raw.baseAddress, raw.count, "bindsnoop"), "libbpf refused the object")
            defer { bpf_object__close(object) }
            try body(object)
        }
    }

    @Test func everyProgramIsNamedOnBothSides() throws {
        try withObject { object in
            var inObject: [String] = []
            var program = bpf_object__next_program(object, nil)
            while let current = program {
                inObject.append(String(cString: bpf_program__name(current)))
                program = bpf_object__next_program(object, current)
            }
            #expect(Set(inObject) == Set(KernelContract.programs), "object: \(inObject.sorted())")
            #expect(KernelContract.programs.count == Set(KernelContract.programs).count, "a program in two sets")
        }
    }

    @Test func everyMapIsThere() throws {
        try withObject { object in
            for name in KernelContract.maps + [KernelContract.rodataSection] {
                #expect(bpf_object__find_map_by_name(object, name) != nil, "\(name)")
            }
        }
    }

    /// The filters are written where BTF says `config` is, and it is the
    /// size of the shared C struct.
    @Test func configIsFoundInRodataByBTF() throws {
        try withObject { object in
            let offset = try #require(KernelContract.configOffset(in: object), "no `config` of the struct's size in .rodata")
            var size = 0
            #expect(bpf_map__initial_value(bpf_object__find_map_by_name(object, KernelContract.rodataSection), &size) != nil)
            #expect(offset + MemoryLayout<bindsnoop_config>.size <= size)
            #expect(bindsnoop_datasec_variable_offset(object, ".rodata", "no_such_variable", 4) == -1)
            #expect(bindsnoop_datasec_variable_offset(object, ".rodata", "config", 3) == -1, "a wrong size is refused")
        }
    }

    /// Kernels before 5.12 refuse every atomic but the plain add ("BPF_STX
    /// uses reserved fields"): no instruction of any program may fetch,
    /// exchange or compare-and-swap. (BPF_STX | BPF_ATOMIC, imm = BPF_ADD only.)
    @Test func onlyPlainAtomicAddsFor510() throws {
        try withObject { object in
            var program = bpf_object__next_program(object, nil)
            while let current = program {
                let name = String(cString: bpf_program__name(current))
                let count = bpf_program__insn_cnt(current)
                if let insns = bpf_program__insns(current) {
                    for index in 0..<count {
                        let insn = insns[index]
                        let atomic = insn.code & 0x07 == 0x03 && insn.code & 0xe0 == 0xc0  // BPF_STX, BPF_ATOMIC
                        #expect(!atomic || insn.imm == 0x00, "\(name) insn \(index): atomic op \(insn.imm)")
                    }
                }
                program = bpf_object__next_program(object, current)
            }
        }
    }

    /// The table's slots are the C side's: every program of the table has
    /// one (bindsnoop.h's list names it), no two share one, and they fill the
    /// `self_checks` map exactly.
    @Test func everyProgramHasItsOwnSelfCheckSlot() throws {
        let slots = KernelProgram.all.compactMap(\.selfCheckSlot)
        #expect(slots.count == KernelProgram.all.count, "a program the C list does not name")
        #expect(Set(slots) == Set(0..<Int(BINDSNOOP_SEEN_SLOTS.rawValue)), "\(slots)")
        #expect(KernelProgram.named(KernelContract.whoamiProgram)?.selfCheckSlot == nil)
        #expect(bindsnoop_program_slot(KernelContract.minimalFexitProgram) == -1)
        try withObject { object in
            let map = try #require(bpf_object__find_map_by_name(object, KernelContract.selfChecksMap))
            #expect(bpf_map__max_entries(map) == BINDSNOOP_SEEN_SLOTS.rawValue)
        }
    }

    /// Each mode's sets come from the table, every table program but the
    /// release hook (which runs beside every mode) is in exactly one set.
    @Test func theModesSetsPartitionTheTable() {
        let inSets = ProbeMode.allCases.flatMap { $0.programSets.flatMap { $0 } }
        #expect(inSets.sorted() == KernelProgram.all.map(\.name).filter { $0 != KernelContract.releaseProgram }.sorted())
        #expect(KernelProgram.all.filter { $0.mode == nil }.map(\.name) == [KernelContract.releaseProgram])
        #expect(TracepointVariant.entryExitPair.programs == ["tracepoint_sys_enter_bind", "tracepoint_sys_exit_bind_pair"])
        #expect(KernelProgram.all.filter(\.needsSuccess).map(\.name) == ["cgroup_post_bind4", "cgroup_post_bind6"])
    }
}
