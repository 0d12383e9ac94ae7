/**
 * Shapes of the generated per-microarchitecture tables (simulator/timing/data/*.ts, written by
 * scripts/gen-timing-tables.ts from llvm-mca's scheduling models) and the hand-entered facts
 * the generator needs about each microarchitecture.
 */
import type { Arch } from '../../isa/arch.ts';

/** Names accepted by `--uarch` and `uarchTable`. */
export type UarchName =
  | 'skylake'
  | 'sapphirerapids'
  | 'znver3'
  | 'znver4'
  | 'znver5'
  | 'cortex-a72'
  | 'neoverse-n1'
  | 'neoverse-n2'
  | 'neoverse-v2';

export const UARCH_NAMES: readonly UarchName[] = ['skylake', 'sapphirerapids', 'znver3', 'znver4', 'znver5', 'cortex-a72', 'neoverse-n1', 'neoverse-n2', 'neoverse-v2'];

/**
 * One execution-resource demand of an instruction: `cycles` of occupancy that may be spread
 * over any of the `units` (indices into `UarchTableData.units`). A single-port demand has one
 * unit; a port-group demand (Skylake's p0156, Neoverse N2's I pipes) lists them all.
 */
export type Demand = readonly [units: readonly number[], cycles: number];

/** Static scheduling facts of one instruction form, as llvm-mca reports them. */
export interface FormEntry {
  /** Latency of the instruction's results (the maximum over its writes), cycles. */
  readonly lat: number;
  /**
   * For x86 load-op forms: latency from the *register* sources to the result. llvm-mca's
   * models give those reads a ReadAdvance equal to the load latency, so a chain through the
   * register operand of `add rax, [mem]` costs the ALU latency, not load + ALU.
   */
  readonly regLat?: number;
  /**
   * Measured latency from the addend of a multiply-accumulate to its result (llvm-mca run of
   * the instruction chained through its addend only).
   */
  readonly accLat?: number;
  /**
   * Measured latency of a stack-pointer or writeback-base update (llvm-mca run of the
   * instruction chained through the pointer only). Absent: the instruction latency applies.
   */
  readonly ptrLat?: number;
  readonly uops: number;
  /** llvm-mca's reciprocal throughput of the instruction alone. */
  readonly rtp: number;
  readonly load: boolean;
  readonly store: boolean;
  /** llvm-mca's hasUnmodeledSideEffects (fences, syscalls, …). */
  readonly side: boolean;
  readonly demands: readonly Demand[];
  /** The corpus line that produced this entry (for reviewers; the key is what matters). */
  readonly src: string;
}

export interface UarchTableData {
  readonly name: UarchName;
  readonly arch: Arch;
  /** `llvm-mca --version` first line of the binary that produced the table. */
  readonly llvmMca: string;
  /** llvm-mca's dispatch width: micro-ops renamed/dispatched per cycle. */
  readonly dispatchWidth: number;
  /** Execution units (llvm-mca resource names; multi-unit resources as `Name.k`). */
  readonly units: readonly string[];
  /** Form key (see forms.ts) → entry. Keys sorted. */
  readonly forms: Readonly<Record<string, FormEntry>>;
  /** Where the data differ from llvm-mca's: the source of `UarchSpec.adjust`, when there is one. */
  readonly adjusted?: string;
}

/**
 * Documented corrections to llvm-mca's data for a core its scheduling model does not describe
 * exactly (LLVM schedules znver5 with its Zen 4 model). Applied by the generator; every
 * number cites its source in `source`.
 */
export interface TableAdjustments {
  readonly source: string;
  /** Macro-ops dispatched per cycle, when wider than the model's. */
  readonly dispatchWidth?: number;
  /** Units the model lacks: each joins every demand spread over exactly `group`. */
  readonly addUnits?: readonly { readonly group: readonly string[]; readonly units: readonly string[] }[];
  /** Latency changes of every form whose mnemonic matches. */
  readonly latency?: readonly { readonly mnemonic: RegExp; readonly delta: number }[];
  /** Store forms' demands confined to `units` are scaled (a store pipe the model charges twice). */
  readonly storeDemandScale?: { readonly units: readonly string[]; readonly scale: number };
}

/**
 * Core mechanisms the llvm-mca models leave out (mechanisms.ts applies them): which a core has
 * and their costs, each from the source cited at the spec.
 */
export interface Mechanisms {
  /** push/pop/call/ret update rsp in the front end: no latency, no data dependency. */
  readonly stackEngine: boolean;
  /** Register-to-register moves are eliminated at rename: latency 0, no port. */
  readonly moveElimination: boolean;
  /** Cycles a load with a simple address (base + disp, base + index, no scale) saves on the table's latency. */
  readonly simpleAddressSaving: number;
  /**
   * Cycles from a store's data to a later load of the same address expression (memory
   * renaming: 0); undefined when not modelled (loads then always read the cache).
   */
  readonly storeForward: number | undefined;
}

/** AMD Zen 3/4/5 (the software optimization guides #56665, #57647, #58455). */
const ZEN_MECHANISMS: Mechanisms = { stackEngine: true, moveElimination: true, simpleAddressSaving: 1, storeForward: 0 };
/** Intel Skylake and Golden Cove (the Intel 64 and IA-32 Optimization Reference Manual). */
const INTEL_MECHANISMS: Mechanisms = { stackEngine: true, moveElimination: true, simpleAddressSaving: 0, storeForward: 5 };
/** AArch64 blocks get no extra mechanism. */
const NO_EXTRA: Mechanisms = { stackEngine: false, moveElimination: false, simpleAddressSaving: 0, storeForward: undefined };

/** Facts about a microarchitecture that are not in llvm-mca's JSON output. */
export interface UarchSpec {
  readonly name: UarchName;
  readonly arch: Arch;
  readonly llvmTriple: string;
  readonly llvmCpu: string;
  /**
   * Instruction bytes the front end can predecode per cycle, or 0 when the front end is not
   * modelled as a bytes bound (fixed-length AArch64: the dispatch width already bounds it).
   * Skylake's legacy decode pipeline predecodes 16 bytes per cycle; Zen 3 fetches a 32-byte
   * window per cycle.
   */
  readonly frontEndBytesPerCycle: number;
  /**
   * Loops of at most this many micro-ops stream from the loop buffer / micro-op cache, so the
   * predecode bytes bound does not apply to them (LLVM's LoopMicroOpBufferSize for the model).
   */
  readonly loopBufferUops: number;
  /**
   * The llvm-mca processor-resource groups (ProcResGroup in LLVM's .td files) as lists of unit
   * names. llvm-mca reports pressure per unit only; the generator uses these groups to turn an
   * instruction's per-unit pressure back into demands that can be balanced across a group.
   * Multi-unit resources (`Zn3LSU.0..2`) are grouped automatically.
   */
  readonly groups: readonly (readonly string[])[];
  /** Corrections the generator applies to llvm-mca's data (see TableAdjustments). */
  readonly adjust?: TableAdjustments;
  /** Mechanisms the static model and detailed mode add on top of the table. */
  readonly mechanisms: Mechanisms;
}

const SKL = (ports: string) => [...ports].map((p) => `SKLPort${p}`);
const ZN3 = (prefix: string, ids: string) => [...ids].map((p) => `Zn3${prefix}${p}`);
const ZN4 = (prefix: string, ids: string) => [...ids].map((p) => `Zn4${prefix}${p}`);
const SPR = (...ports: string[]) => ports.map((p) => `SPRPort${p}`);
/**
 * X86ScheduleZnver4.td's groups (LLVM schedules znver5 with the same Znver4 model): ALU, AGU,
 * branch (ALU0 + BRU1), CMOV/SETcc (ALU03), bit ops (ALU12) and the FP pipe groups.
 */
const ZNVER4_GROUPS = [
  ZN4('ALU', '0123'),
  ZN4('AGU', '012'),
  ['Zn4ALU0', 'Zn4BRU1'],
  ZN4('ALU', '03'),
  ZN4('ALU', '12'),
  ZN4('FP', '0123'),
  ZN4('FP', '01'),
  ZN4('FP', '23'),
  ZN4('FP', '12'),
  ZN4('FP', '03'),
];

export const UARCH_SPECS: Readonly<Record<UarchName, UarchSpec>> = {
  skylake: {
    name: 'skylake',
    arch: 'x64',
    llvmTriple: 'x86_64-unknown-linux-gnu',
    llvmCpu: 'skylake',
    mechanisms: INTEL_MECHANISMS,
    frontEndBytesPerCycle: 16,
    loopBufferUops: 50,
    // X86SchedSkylakeClient.td. The rarely used p04, p16, p56 and p056 groups are left out:
    // their presence makes the decomposition ambiguous (p0 + p4 leftovers of a store-ALU mix
    // would read as one p04 demand); the few instructions using them get per-port demands.
    groups: ['015', '237', '0156', '01', '23', '05', '06', '15'].map(SKL),
  },
  sapphirerapids: {
    name: 'sapphirerapids',
    arch: 'x64',
    llvmTriple: 'x86_64-unknown-linux-gnu',
    llvmCpu: 'sapphirerapids',
    mechanisms: INTEL_MECHANISMS,
    // Golden Cove's legacy decoders take 32 bytes per cycle (Intel optimization manual,
    // Golden Cove front end); LLVM's LoopMicroOpBufferSize for the model is 72 (the LSD).
    frontEndBytesPerCycle: 32,
    loopBufferUops: 72,
    // X86SchedSapphireRapids.td: integer/vector ALU (p0156 + p10), loads (p2, p3, p11), store
    // data (p4, p9), store address (p7, p8) and the common ALU subsets. llvm-mca 22 reports
    // the pressure of Port10 under the name SPRPort11 and vice versa (its resource listing
    // puts loads on "Port10"), so the groups here use the names as reported.
    groups: [
      SPR('00', '01', '05', '06', '11'),
      SPR('02', '03', '10'),
      SPR('00', '01', '05'),
      SPR('01', '05', '11'),
      SPR('00', '05', '06'),
      SPR('04', '09'),
      SPR('07', '08'),
      SPR('00', '01'),
      SPR('00', '05'),
      SPR('00', '06'),
      SPR('01', '05'),
    ],
  },
  znver3: {
    name: 'znver3',
    arch: 'x64',
    llvmTriple: 'x86_64-unknown-linux-gnu',
    llvmCpu: 'znver3',
    mechanisms: ZEN_MECHANISMS,
    frontEndBytesPerCycle: 32,
    loopBufferUops: 512,
    // X86ScheduleZnver3.td: ALU, AGU, branch and FP pipe groups.
    groups: [
      ZN3('ALU', '0123'),
      ZN3('AGU', '012'),
      ['Zn3ALU0', 'Zn3BRU1'],
      ZN3('ALU', '03'),
      ZN3('ALU', '12'),
      ZN3('FP', '0123'),
      ZN3('FP', '01'),
      ZN3('FP', '23'),
      ZN3('FP', '12'),
      ZN3('FP', '03'),
    ],
  },
  znver4: {
    name: 'znver4',
    arch: 'x64',
    llvmTriple: 'x86_64-unknown-linux-gnu',
    llvmCpu: 'znver4',
    mechanisms: ZEN_MECHANISMS,
    frontEndBytesPerCycle: 32, // AMD Zen 4 software optimization guide (#57647) 2.9: 32-byte fetch
    loopBufferUops: 108, // LLVM's LoopMicroOpBufferSize for Znver4
    groups: ZNVER4_GROUPS,
  },
  znver5: {
    name: 'znver5',
    arch: 'x64',
    llvmTriple: 'x86_64-unknown-linux-gnu',
    llvmCpu: 'znver5',
    mechanisms: ZEN_MECHANISMS,
    // Zen 5 fetches two 32-byte windows per cycle (AMD Zen 5 software optimization guide
    // #58455, 2.8); one thread's legacy decode path is still 4 instructions from 32 bytes.
    frontEndBytesPerCycle: 32,
    loopBufferUops: 108,
    groups: ZNVER4_GROUPS,
    // LLVM 22 schedules znver5 with its Znver4 model. Where Zen 5 differs, the Software
    // Optimization Guide for AMD Family 1Ah (#58455) says: 8 macro-ops dispatched per cycle;
    // six integer ALUs (Zen 4: four); four AGUs / load-store pipes, of which up to two
    // stores per cycle (Zen 4: three pipes, the model charging each store two cycles of the
    // two store units, one store per cycle); FP add (FADD) latency 2 cycles (Zen 4: 3).
    adjust: {
      source: "AMD Software Optimization Guide for Family 1Ah (Zen 5), #58455: 8-wide dispatch, 6 ALUs, 4 AGU/LS pipes, 2 stores per cycle, 2-cycle FADD",
      dispatchWidth: 8,
      addUnits: [
        { group: ZN4('ALU', '0123'), units: ['Zn5ALU4', 'Zn5ALU5'] },
        { group: ZN4('AGU', '012'), units: ['Zn5AGU3'] },
        { group: ['Zn4LSU.0', 'Zn4LSU.1', 'Zn4LSU.2'], units: ['Zn5LSU.3'] },
        { group: ['Zn4Load.0', 'Zn4Load.1', 'Zn4Load.2'], units: ['Zn5Load.3'] },
      ],
      latency: [{ mnemonic: /^v?(add|sub)[sp][sd]$/, delta: -1 }],
      storeDemandScale: { units: ['Zn4LSU.0', 'Zn4LSU.1', 'Zn4LSU.2', 'Zn5LSU.3', 'Zn4Store.0', 'Zn4Store.1'], scale: 0.5 },
    },
  },
  'cortex-a72': {
    name: 'cortex-a72',
    arch: 'aarch64',
    llvmTriple: 'aarch64-unknown-linux-gnu',
    llvmCpu: 'cortex-a72',
    mechanisms: NO_EXTRA,
    frontEndBytesPerCycle: 0,
    loopBufferUops: 0,
    // LLVM models Cortex-A72 with the Cortex-A57 resources (AArch64SchedA57.td): V = X|W.
    groups: [['A57UnitX', 'A57UnitW']],
  },
  'neoverse-n1': {
    name: 'neoverse-n1',
    arch: 'aarch64',
    llvmTriple: 'aarch64-unknown-linux-gnu',
    llvmCpu: 'neoverse-n1',
    mechanisms: NO_EXTRA,
    frontEndBytesPerCycle: 0,
    loopBufferUops: 0,
    // AArch64SchedNeoverseN1.td: I = S|M, V = V0|V1 (the Cortex-A76 core of Graviton 2 and
    // Ampere Altra; LLVM schedules cortex-a78 with the Cortex-A57 model, so N1 stands in).
    groups: [
      ['N1UnitS.0', 'N1UnitS.1', 'N1UnitM'],
      ['N1UnitV0', 'N1UnitV1'],
    ],
  },
  'neoverse-n2': {
    name: 'neoverse-n2',
    arch: 'aarch64',
    llvmTriple: 'aarch64-unknown-linux-gnu',
    llvmCpu: 'neoverse-n2',
    mechanisms: NO_EXTRA,
    frontEndBytesPerCycle: 0,
    loopBufferUops: 0,
    // AArch64SchedNeoverseN2.td: V = V0|V1, M = M0|M1, L = L01|L2, I = S|M0|M1.
    groups: [
      ['N2UnitV0', 'N2UnitV1'],
      ['N2UnitM0', 'N2UnitM1'],
      ['N2UnitL01.0', 'N2UnitL01.1', 'N2UnitL2'],
      ['N2UnitS.0', 'N2UnitS.1', 'N2UnitM0', 'N2UnitM1'],
    ],
  },
  'neoverse-v2': {
    name: 'neoverse-v2',
    arch: 'aarch64',
    llvmTriple: 'aarch64-unknown-linux-gnu',
    llvmCpu: 'neoverse-v2',
    mechanisms: NO_EXTRA,
    frontEndBytesPerCycle: 0,
    loopBufferUops: 0,
    // AArch64SchedNeoverseV2.td: I = S0-3|M0|M1, F = S0|S1|M0|M1, S = S0-3, R = S0|S1,
    // M = M0|M1, L = L01|L2, V = V0-3 and its pairs.
    groups: [
      ['V2UnitS0', 'V2UnitS1', 'V2UnitS2', 'V2UnitS3', 'V2UnitM0', 'V2UnitM1'],
      ['V2UnitS0', 'V2UnitS1', 'V2UnitM0', 'V2UnitM1'],
      ['V2UnitS0', 'V2UnitS1', 'V2UnitS2', 'V2UnitS3'],
      ['V2UnitL01.0', 'V2UnitL01.1', 'V2UnitL2'],
      ['V2UnitV0', 'V2UnitV1', 'V2UnitV2', 'V2UnitV3'],
      ['V2UnitS0', 'V2UnitS1'],
      ['V2UnitM0', 'V2UnitM1'],
      ['V2UnitV0', 'V2UnitV1'],
      ['V2UnitV0', 'V2UnitV2'],
      ['V2UnitV1', 'V2UnitV3'],
      ['V2UnitV2', 'V2UnitV3'],
    ],
  },
};
