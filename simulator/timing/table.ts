/**
 * Shapes of the generated per-microarchitecture tables (simulator/timing/data/*.ts, written by
 * scripts/gen-timing-tables.ts from llvm-mca's scheduling models) and the hand-entered facts
 * the generator needs about each microarchitecture.
 */
import type { Arch } from '../../isa/arch.ts';

/** Names accepted by `--uarch` and `uarchTable`. */
export type UarchName = 'skylake' | 'znver3' | 'cortex-a72' | 'neoverse-n2';

export const UARCH_NAMES: readonly UarchName[] = ['skylake', 'znver3', 'cortex-a72', 'neoverse-n2'];

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
}

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
}

const SKL = (ports: string) => [...ports].map((p) => `SKLPort${p}`);
const ZN3 = (prefix: string, ids: string) => [...ids].map((p) => `Zn3${prefix}${p}`);

export const UARCH_SPECS: Readonly<Record<UarchName, UarchSpec>> = {
  skylake: {
    name: 'skylake',
    arch: 'x64',
    llvmTriple: 'x86_64-unknown-linux-gnu',
    llvmCpu: 'skylake',
    frontEndBytesPerCycle: 16,
    loopBufferUops: 50,
    // X86SchedSkylakeClient.td. The rarely used p04, p16, p56 and p056 groups are left out:
    // their presence makes the decomposition ambiguous (p0 + p4 leftovers of a store-ALU mix
    // would read as one p04 demand); the few instructions using them get per-port demands.
    groups: ['015', '237', '0156', '01', '23', '05', '06', '15'].map(SKL),
  },
  znver3: {
    name: 'znver3',
    arch: 'x64',
    llvmTriple: 'x86_64-unknown-linux-gnu',
    llvmCpu: 'znver3',
    frontEndBytesPerCycle: 32,
    loopBufferUops: 512,
    // X86ScheduleZnver3.td: ALU, AGU, branch and FP pipe groups.
    groups: [
      ZN3('ALU', '0123'),
      ZN3('AGU', '012'),
      ['Zn3ALU0', 'Zn3BRU1'],
      ZN3('ALU', '03'),
      ZN3('ALU', '12'),
      ZN3('FPP', '0123'),
      ZN3('FPP', '01'),
      ZN3('FPP', '23'),
      ZN3('FPP', '12'),
      ZN3('FPP', '03'),
    ],
  },
  'cortex-a72': {
    name: 'cortex-a72',
    arch: 'aarch64',
    llvmTriple: 'aarch64-unknown-linux-gnu',
    llvmCpu: 'cortex-a72',
    frontEndBytesPerCycle: 0,
    loopBufferUops: 0,
    // LLVM models Cortex-A72 with the Cortex-A57 resources (AArch64SchedA57.td): V = X|W.
    groups: [['A57UnitX', 'A57UnitW']],
  },
  'neoverse-n2': {
    name: 'neoverse-n2',
    arch: 'aarch64',
    llvmTriple: 'aarch64-unknown-linux-gnu',
    llvmCpu: 'neoverse-n2',
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
};
