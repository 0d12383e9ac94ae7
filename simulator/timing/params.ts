/**
 * Parameters of the dynamic layers (detailed mode) per microarchitecture. Hand-entered; the
 * source of every number is given beside it. Latencies are load-to-use cycles of the level
 * (the L1 figure is the one the static tables already charge, so only the excess over it is
 * added for a miss).
 *
 * x86-64: the mispredict penalty, DRAM cost per streamed line and latency are calibrated on
 * this project's host (AMD Zen 4, ../shared/reference/cycle-model.md: ≈ 11 cycles per
 * mispredict, ≈ 7 cycles per 64-byte line of a prefetched stream) and used for both x86
 * models, so detailed x86 runs can be checked against host measurements. Cache geometry is
 * the named core's.
 */
import type { UarchName } from './table.ts';
import type { TageParams } from './tage.ts';

export interface CacheLevelParams {
  readonly sizeBytes: number;
  readonly ways: number;
  /** Load-to-use latency in cycles. */
  readonly latency: number;
}

export interface DynamicParams {
  /** Cycles lost per mispredicted branch (front-end redirect and refill). */
  readonly mispredictPenalty: number;
  /** Reorder-buffer capacity in micro-ops: how far dispatch may run ahead of the oldest unfinished work. */
  readonly robUops: number;
  /**
   * The conditional-branch predictor: TAGE with this geometry (tage.ts) for cores documented to
   * use one; absent, a tournament of gshare (`historyBits`, `patternTableBits`) and bimodal.
   */
  readonly tage?: TageParams;
  /** Global history bits and log2 of the pattern table of the gshare direction predictor. */
  readonly historyBits: number;
  readonly patternTableBits: number;
  /** Entries of the branch target buffer (indirect targets) and depth of the return-address stack. */
  readonly btbEntries: number;
  readonly rasDepth: number;
  readonly lineBytes: number;
  readonly l1: CacheLevelParams;
  readonly l2: CacheLevelParams;
  /** Absent: no L3 (the core's L2 is the last level). */
  readonly l3: CacheLevelParams | undefined;
  /** DRAM load-to-use latency, cycles. */
  readonly dramLatency: number;
  /** Cycles the memory channel needs per 64-byte line (single-core streaming bandwidth). */
  readonly dramCyclesPerLine: number;
  /** Outstanding L1 demand misses (fill buffers / MSHRs). */
  readonly missBuffers: number;
  /** Lines the stride prefetcher runs ahead of the demand stream. */
  readonly prefetchDistance: number;
}

/**
 * TAGE geometry for the AMD cores (AMD names a TAGE direction predictor from Zen 2 on: "Zen 2",
 * Hot Chips 31, 2019; the sizes are not published). A base bimodal table of 16 Ki 2-bit
 * counters and eight tagged tables of 4 Ki entries (3-bit counter, 8–11-bit tag, 2-bit useful
 * counter; 32 Ki tagged entries, ≈ 68 KiB) with history lengths growing geometrically from 4 to
 * 640 outcomes, the shape of Seznec and Michaud's TAGE. The capacity is sized by a measurement
 * on this project's Zen 5 host (docs/cycle-model.md, *Branch prediction*): a load-dependent
 * branch over a repeated random sequence of N outcomes runs at 1.0 cycle per iteration — every
 * outcome learnt — up to N = 16 Ki, 1.7 at 24 Ki and 8.5–13.7 from 32 Ki on (15 when nothing
 * is learnt), i.e. misprediction rates of ≈ 0, 3 %, 27 % and 38 % at 16, 24, 32 and 64 Ki;
 * this geometry gives 4 %, 8 %, 12 % and 31 % (tage.test.ts). D. Lemire, "How many branches can
 * your CPU predict?" (2026), found the same order on Zen 5 (≈ 30,000 outcomes).
 */
const AMD_TAGE: TageParams = {
  baseBits: 14,
  tableBits: 12,
  history: [4, 8, 17, 35, 73, 150, 310, 640],
  tagBits: [8, 8, 9, 9, 10, 10, 11, 11],
  agingPeriod: 1 << 18,
};

export const DYNAMIC_PARAMS: Readonly<Record<UarchName, DynamicParams>> = {
  skylake: {
    mispredictPenalty: 11, // host-calibrated (cycle-model.md); Intel quotes ≈ 15–20 for Skylake
    robUops: 224, // Intel 64 and IA-32 Optimization Reference Manual, Skylake client ROB
    historyBits: 16,
    patternTableBits: 16,
    btbEntries: 4096,
    rasDepth: 16,
    lineBytes: 64,
    l1: { sizeBytes: 32 << 10, ways: 8, latency: 5 }, // 32 KiB 8-way, 4–5 cycles
    l2: { sizeBytes: 256 << 10, ways: 4, latency: 14 }, // 256 KiB 4-way, ≈ 12–14 cycles
    l3: { sizeBytes: 8 << 20, ways: 16, latency: 42 }, // 8 MiB shared (4-core client), ≈ 42 cycles
    dramLatency: 250,
    dramCyclesPerLine: 7, // host-calibrated stream cost (cycle-model.md)
    missBuffers: 12, // 10–12 L1 fill buffers
    prefetchDistance: 24,
  },
  znver3: {
    mispredictPenalty: 11, // host-calibrated (cycle-model.md); AMD quotes ≈ 11–13 for Zen 3
    robUops: 256, // AMD Zen 3 Software Optimization Guide (#56665): 256-entry retire queue
    historyBits: 16,
    patternTableBits: 16,
    btbEntries: 4096,
    rasDepth: 32,
    lineBytes: 64,
    l1: { sizeBytes: 32 << 10, ways: 8, latency: 5 }, // 32 KiB 8-way, 4–5 cycles (#56665)
    l2: { sizeBytes: 512 << 10, ways: 8, latency: 14 }, // 512 KiB 8-way, 12 cycles + ≥ 2 for FP
    l3: { sizeBytes: 32 << 20, ways: 16, latency: 46 }, // 32 MiB per CCX, ≈ 46 cycles
    dramLatency: 280,
    dramCyclesPerLine: 7, // host-calibrated stream cost (cycle-model.md)
    missBuffers: 24,
    prefetchDistance: 24,
  },
  'cortex-a72': {
    // Arm Cortex-A72 Software Optimization Guide (UAN 0016A): 15-stage+ pipeline, 3-wide
    // dispatch; Arm Cortex-A72 TRM (100095): 32 KiB 2-way L1D, 512 KiB–4 MiB 16-way L2, no L3.
    // Latencies and the 128-entry window as measured in chipsandcheese.com's "ARM's Cortex A72:
    // aarch64 for the Masses" (2023) on AWS Graviton.
    mispredictPenalty: 15,
    robUops: 128,
    historyBits: 12,
    patternTableBits: 13,
    btbEntries: 2048,
    rasDepth: 8,
    lineBytes: 64,
    l1: { sizeBytes: 32 << 10, ways: 2, latency: 4 },
    l2: { sizeBytes: 2 << 20, ways: 16, latency: 21 },
    l3: undefined,
    dramLatency: 250,
    dramCyclesPerLine: 16,
    missBuffers: 6,
    prefetchDistance: 16,
  },
  'neoverse-n2': {
    // Arm Neoverse N2 Software Optimization Guide and TRM: 64 KiB 4-way L1D (4 cycles), 1 MiB
    // 8-way private L2 (≈ 11 cycles), 160-entry ROB (N1: 128), 10-stage pipeline ("According
    // to ARM, N2 has a 10 cycle pipeline" — chipsandcheese.com, "ARM's Neoverse N2", 2023,
    // which also measured the system-level cache at ≈ 30 ns on Yitian 710).
    mispredictPenalty: 11,
    robUops: 160,
    historyBits: 16,
    patternTableBits: 16,
    btbEntries: 4096,
    rasDepth: 16,
    lineBytes: 64,
    l1: { sizeBytes: 64 << 10, ways: 4, latency: 4 },
    l2: { sizeBytes: 1 << 20, ways: 8, latency: 11 },
    l3: { sizeBytes: 32 << 20, ways: 16, latency: 90 },
    dramLatency: 350,
    dramCyclesPerLine: 8,
    missBuffers: 16,
    prefetchDistance: 24,
  },
  sapphirerapids: {
    // Golden Cove (Intel 64 and IA-32 Optimization Reference Manual, Golden Cove chapter):
    // 512-entry ROB, 48 KiB 12-way L1D at 5 cycles, 2 MiB 16-way L2 at 15–16 cycles, 16 L1
    // fill buffers; LLVM's X86SchedSapphireRapids.td: MispredictPenalty 14. The shared L3 of a
    // server die (1.875 MiB per core on a mesh) is modelled as 32 MiB at ≈ 33 ns ≈ 100 cycles
    // (chipsandcheese.com, "Sapphire Rapids: Golden Cove Hits the Server World", 2023).
    mispredictPenalty: 14,
    robUops: 512,
    historyBits: 16,
    patternTableBits: 16,
    btbEntries: 4096,
    rasDepth: 16,
    lineBytes: 64,
    l1: { sizeBytes: 48 << 10, ways: 12, latency: 5 },
    l2: { sizeBytes: 2 << 20, ways: 16, latency: 16 },
    l3: { sizeBytes: 32 << 20, ways: 16, latency: 100 },
    dramLatency: 350,
    dramCyclesPerLine: 7,
    missBuffers: 16,
    prefetchDistance: 24,
  },
  znver4: {
    // AMD Software Optimization Guide for Family 19h Zen 4 (#57647): 320-entry retire queue
    // (2.10.3), 32 KiB 8-way L1D with 4-cycle integer load-to-use (2.12), 1 MiB 8-way L2 at
    // 14 cycles, 32 MiB 16-way L3 per CCX at ≈ 50 cycles, 24 L1 miss buffers; the common-case
    // mispredict penalty is 13 cycles (2.8, LLVM's X86ScheduleZnver4.td).
    mispredictPenalty: 13,
    robUops: 320,
    historyBits: 16,
    patternTableBits: 16,
    btbEntries: 4096,
    rasDepth: 32,
    lineBytes: 64,
    l1: { sizeBytes: 32 << 10, ways: 8, latency: 4 },
    l2: { sizeBytes: 1 << 20, ways: 8, latency: 14 },
    l3: { sizeBytes: 32 << 20, ways: 16, latency: 50 },
    dramLatency: 300,
    dramCyclesPerLine: 7, // host-calibrated stream cost on a Zen 4 VM (cycle-model.md)
    missBuffers: 24,
    prefetchDistance: 24,
  },
  znver5: {
    // AMD Software Optimization Guide for Family 1Ah Zen 5 (#58455): 448-entry retire queue,
    // 48 KiB 12-way L1D with 4-cycle integer load-to-use, 1 MiB 16-way L2 at 14 cycles,
    // 32 MiB 16-way L3 per CCD at ≈ 50 cycles. DRAM: the host-calibrated stream cost of the
    // other x86 tables (7 cycles per line). Mispredict penalty: measured on this project's
    // Zen 5 host rather than the guide's 13-cycle common case (docs/cycle-model.md, *Branch
    // prediction*): a random branch on a register costs ≈ 26 cycles per misprediction beyond
    // its 6-cycle dependency chain, a random branch on a loaded byte ≈ 25.6 including the ≈ 6
    // the model's scoreboard already charges for the load and test before it resolves (≈ 20
    // left); 23 fits both within ≈ 10 %.
    mispredictPenalty: 23,
    tage: AMD_TAGE,
    robUops: 448,
    historyBits: 16,
    patternTableBits: 16,
    btbEntries: 4096,
    rasDepth: 32,
    lineBytes: 64,
    l1: { sizeBytes: 48 << 10, ways: 12, latency: 4 },
    l2: { sizeBytes: 1 << 20, ways: 16, latency: 14 },
    l3: { sizeBytes: 32 << 20, ways: 16, latency: 50 },
    dramLatency: 300,
    dramCyclesPerLine: 7,
    missBuffers: 24,
    prefetchDistance: 24,
  },
  'neoverse-n1': {
    // Arm Neoverse N1 Software Optimization Guide and TRM (100616): 64 KiB 4-way L1D at 4
    // cycles, 1 MiB 8-way private L2 at 9–11 cycles, 128-entry ROB, 11-cycle mispredict
    // (LLVM's AArch64SchedNeoverseN1.td); system-level cache as on Graviton 2 / Altra, 32 MiB at
    // ≈ 30 ns (chipsandcheese.com, "Ampere Altra Max", 2023).
    mispredictPenalty: 11,
    robUops: 128,
    historyBits: 16,
    patternTableBits: 16,
    btbEntries: 4096,
    rasDepth: 16,
    lineBytes: 64,
    l1: { sizeBytes: 64 << 10, ways: 4, latency: 4 },
    l2: { sizeBytes: 1 << 20, ways: 8, latency: 11 },
    l3: { sizeBytes: 32 << 20, ways: 16, latency: 90 },
    dramLatency: 350,
    dramCyclesPerLine: 8,
    missBuffers: 16,
    prefetchDistance: 24,
  },
  'neoverse-v2': {
    // Arm Neoverse V2 Software Optimization Guide (PJDOC-466751330-593177) and TRM: 64 KiB
    // 4-way L1D at 4 cycles, 2 MiB 8-way private L2 at ≈ 12 cycles, 320-entry ROB (LLVM's
    // AArch64SchedNeoverseV2.td MicroOpBufferSize), mispredict 10 (the same file); the
    // system-level cache of Grace (≈ 117 MiB at ≈ 30 ns) modelled as 32 MiB at 90 cycles.
    mispredictPenalty: 10,
    robUops: 320,
    historyBits: 16,
    patternTableBits: 16,
    btbEntries: 4096,
    rasDepth: 32,
    lineBytes: 64,
    l1: { sizeBytes: 64 << 10, ways: 4, latency: 4 },
    l2: { sizeBytes: 2 << 20, ways: 8, latency: 12 },
    l3: { sizeBytes: 32 << 20, ways: 16, latency: 90 },
    dramLatency: 350,
    dramCyclesPerLine: 8,
    missBuffers: 24,
    prefetchDistance: 24,
  },
};
