/**
 * Run-time view of one translated block for the cycle model: its static cost (model.ts), how
 * it ends (for the branch predictor), and a summary of its register dataflow (for the
 * scoreboard that carries latency from block to block).
 *
 * Loop rule: a block whose last instruction is a direct branch to the block's own first
 * instruction is priced as a steady-state loop (`BlockCostOptions.loop`: loop-carried latency
 * enters the cost, small loops stream from the loop buffer so the x86 predecode bound does not
 * apply). Unicorn ends a translation block at every branch, so such a block is exactly a
 * single-block loop body entered at its top. Every other block is priced as straight-line
 * code: throughput bounds only (issue, ports, front end). Latency between blocks is ignored in
 * fast mode and carried by the scoreboard in detailed mode.
 */
import type { Arch } from '../../isa/arch.ts';
import { decodeBlock, type DecodedInsn } from './disasm.ts';
import { loadLatencyPart, loadOpExtra, MemoryTracker } from './mechanisms.ts';
import { branchTarget, type BlockCost, type TimingModel } from './model.ts';

/** How control leaves a block. `none`: the block ended without a branch (page end, size cap, trap). */
export type Terminator = 'none' | 'cond' | 'jump' | 'indirect' | 'call' | 'icall' | 'ret';

/**
 * Register dataflow of a block as a function from input ready times to output ready times.
 * Paths are kept apart by whether they pass through a load of this block, because only those
 * wait for the block's cache delay:
 *   out[j] = max(start + fromStart[j], max_i(in[i] + lat[j][i]),
 *                delay + max(start + fromStartLoad[j], max_i(in[i] + latLoad[j][i])))
 * Registers are small integers from a RegisterIds table; -1 marks "no such path".
 */
export interface DataflowSummary {
  readonly inputs: Int32Array;
  readonly outputs: Int32Array;
  /** outputs.length × inputs.length, row-major. */
  readonly lat: Float64Array;
  readonly latLoad: Float64Array;
  readonly fromStart: Float64Array;
  readonly fromStartLoad: Float64Array;
  /**
   * The same paths as a sparse edge list for the per-block loop: edge k runs from register
   * `edgeFrom[k]` to output index `edgeTo[k]` with latency `edgeLat[k]`, through a load when
   * `edgeLoad[k]`.
   */
  readonly edgeFrom: Int32Array;
  readonly edgeTo: Int32Array;
  readonly edgeLat: Float64Array;
  readonly edgeLoad: Uint8Array;
  /** Outputs [0, realOutputs) are registers; the rest are the stored-data pseudo registers (`storeData`). */
  readonly realOutputs: number;
  /** Edges are grouped by output: those of output j are [edgeStart[j], edgeStart[j + 1]). */
  readonly edgeStart: Int32Array;
  /**
   * Per store instruction of the block, in order (the order of its write accesses): the index
   * in `outputs` of a pseudo register holding when the data of a stack-slot store is ready, or
   * -1 (not a stack slot, or no store forwarding on this core). Detailed mode remembers those
   * times by address so a later block's load of the slot waits for the data (DetailedTimer).
   */
  readonly storeData: Int32Array;
  /**
   * Longest chain within one execution with every input ready at the start (what
   * `BlockCost.criticalPath` measures, with this summary's stack-pointer rule): over every
   * register write, including ones a later instruction overwrites.
   */
  readonly span: number;
}

export interface BlockInfo {
  readonly address: bigint;
  readonly size: number;
  /** Instructions as the native counter counts them (an undecodable tail counts as one). */
  readonly instructions: number;
  readonly insns: readonly DecodedInsn[];
  /** Static cost; undefined for a block with no decodable instruction. */
  readonly cost: BlockCost | undefined;
  /** Cycles per execution in fast mode (`cost.cycles`, 0 when undecodable). */
  readonly cycles: number;
  /** Throughput part (`cost.stack.base`), the base of detailed mode. */
  readonly base: number;
  readonly uops: number;
  readonly loads: number;
  readonly terminator: Terminator;
  /** Direct branch/call target, when the terminator has one. */
  readonly target: bigint | undefined;
  readonly dataflow: DataflowSummary;
  // Plain-number copies for detailed mode's per-block path.
  /** `address` as a number, and the fall-through address. */
  readonly pc: number;
  readonly fallthrough: number;
  /** `dataflow.span`: the block's own longest chain (detailed mode). */
  readonly criticalPath: number;
  /** Index of TERMINATORS. */
  readonly terminatorCode: number;
  /** Largest register id the dataflow touches (-1 when none). */
  readonly maxRegister: number;
  /** Serial number within its BlockCache (for per-run arrays). */
  readonly serial: number;
  /** Index in `dataflow.outputs` of BRANCH_RESOLVED, -1 when the block ends without a branch. */
  readonly branchOutput: number;
}

export const TERMINATORS: readonly Terminator[] = ['none', 'cond', 'jump', 'indirect', 'call', 'icall', 'ret'];

/** Pseudo register written by a block's final branch when it executes (its inputs are ready). */
export const BRANCH_RESOLVED = '@branch';
/** Pseudo registers holding the data of a block's stack-slot stores, by store ordinal. */
const STORED_DATA = '@stored';

/** Interns register names as small integers for the scoreboard. */
export class RegisterIds {
  private readonly ids = new Map<string, number>();
  get size(): number {
    return this.ids.size;
  }
  id(name: string): number {
    let id = this.ids.get(name);
    if (id === undefined) {
      id = this.ids.size;
      this.ids.set(name, id);
    }
    return id;
  }
}

const X64_COND = /^(j(?!mp)[a-z]+|loop[a-z]*)$/;
const A64_COND = /^(b\.[a-z]+|cbn?z|tbn?z)$/;

/** Classifies the last instruction of a block. */
export function terminatorOf(arch: Arch, insn: DecodedInsn | undefined): { kind: Terminator; target: bigint | undefined } {
  if (!insn) return { kind: 'none', target: undefined };
  const mn = insn.mnemonic.toLowerCase();
  const direct = (): bigint | undefined => {
    const t = insn.opStr.trim().replace(/^#/, '');
    return /^(0x[0-9a-f]+|\d+)$/i.test(t) ? BigInt(t) : undefined;
  };
  if (arch === 'x64') {
    if (mn === 'ret' || mn === 'retq' || mn === 'ret far') return { kind: 'ret', target: undefined };
    if (mn === 'call') {
      const t = direct();
      return t === undefined ? { kind: 'icall', target: undefined } : { kind: 'call', target: t };
    }
    if (mn === 'jmp') {
      const t = direct();
      return t === undefined ? { kind: 'indirect', target: undefined } : { kind: 'jump', target: t };
    }
    if (X64_COND.test(mn)) return { kind: 'cond', target: branchTarget(arch, mn, insn.opStr) };
    return { kind: 'none', target: undefined };
  }
  if (mn === 'ret' || mn === 'retaa' || mn === 'retab') return { kind: 'ret', target: undefined };
  if (mn === 'bl') return { kind: 'call', target: direct() };
  if (mn === 'blr' || mn === 'blraa' || mn === 'blrab') return { kind: 'icall', target: undefined };
  if (mn === 'b') return { kind: 'jump', target: direct() };
  if (mn === 'br' || mn === 'braa' || mn === 'brab') return { kind: 'indirect', target: undefined };
  if (A64_COND.test(mn)) return { kind: 'cond', target: branchTarget(arch, mn, insn.opStr) };
  return { kind: 'none', target: undefined };
}

/** Latencies of the paths to one value, split by whether a load of the block lies on them. */
interface Paths {
  from: Map<number, number>;
  start: number;
  fromLoad: Map<number, number>;
  startLoad: number;
}

function mergeInto(target: Map<number, number>, source: Map<number, number>, shift: number): void {
  for (const [i, l] of source) {
    const v = l + shift;
    const old = target.get(i);
    if (old === undefined || v > old) target.set(i, v);
  }
}

/**
 * Builds the dataflow summary with the same latency rules as the static model's loop-carried
 * bound (load-op read advance, late accumulator forwarding, fast pointer updates, rsp updates
 * of push/pop/call/ret free) and the same mechanisms (mechanisms.ts): move elimination,
 * simple-address loads, and loads of a value a store of this block wrote (memory renaming /
 * store-to-load forwarding; stores in earlier blocks are not matched).
 */
function summarize(model: TimingModel, insns: readonly DecodedInsn[], regs: RegisterIds, branchEnds: boolean, withMechanisms: boolean): DataflowSummary {
  const mech = model.mechanisms(withMechanisms);
  // Every x86-64 core has the stack engine, and llvm-mca 22's models do not chain rsp either.
  const stackEngine = model.arch === 'x64';
  const memory = mech.storeForward !== undefined || mech.simpleAddressSaving > 0 ? new MemoryTracker() : undefined;
  /** Paths to the data each store wrote, and its width, by address key. */
  const stored = new Map<string, { paths: Paths; bits: number }>();
  const inputIndex = new Map<number, number>();
  const inputs: number[] = [];
  const defs = new Map<number, Paths>();
  /** Pseudo register of each store instruction's data (stack slots only), or -1. */
  const storeRegs: number[] = [];
  let span = 0;
  const sourceOf = (reg: number): Paths => {
    const d = defs.get(reg);
    if (d) return d;
    let i = inputIndex.get(reg);
    if (i === undefined) {
      i = inputs.length;
      inputs.push(reg);
      inputIndex.set(reg, i);
    }
    return { from: new Map([[i, 0]]), start: -Infinity, fromLoad: new Map(), startLoad: -Infinity };
  };
  for (let k = 0; k < insns.length; k++) {
    const insn = insns[k];
    // Start time of this instruction when all block inputs are ready at 0.
    let startAll = 0;
    const looked = model.priced(insn.mnemonic, insn.opStr, withMechanisms);
    const entry = looked.entry;
    const access = memory && looked.form ? memory.access(looked.form, entry) : undefined;
    const store = access?.load && mech.storeForward !== undefined ? stored.get(access.key) : undefined;
    const forwarded = store && (access!.bits === 0 || store.bits === 0 || access!.bits <= store.bits) ? store.paths : undefined;
    const saving = access?.load && access.simple && forwarded === undefined ? mech.simpleAddressSaving : 0;
    const extra = loadOpExtra(mech, entry, looked.effects);
    const loadPart = loadLatencyPart(entry, looked.effects) + extra;
    // The block's final branch also "writes" a pseudo register when it executes, so detailed
    // mode knows when a mispredicted branch resolves.
    const effects = k === insns.length - 1 && branchEnds
      ? { reads: looked.effects.reads, writes: [...looked.effects.writes, { reg: BRANCH_RESOLVED, pointerUpdate: false }] }
      : looked.effects;
    const advance = entry.regLat !== undefined ? entry.lat + extra - entry.regLat : 0;
    const accAdvance = entry.accLat !== undefined ? Math.max(0, entry.lat - entry.accLat) : 0;
    // When the instruction may start, per path kind, separately for address and data inputs:
    // a load-op's data register (`add rax, [mem]`'s rax) does not wait for the memory access.
    const addr: Paths = { from: new Map(), start: 0, fromLoad: new Map(), startLoad: -Infinity };
    const data: Paths = { from: new Map(), start: -Infinity, fromLoad: new Map(), startLoad: -Infinity };
    for (const r of effects.reads) {
      const src = sourceOf(regs.id(r.reg));
      const adv = r.address ? 0 : r.accumulator ? accAdvance : advance;
      const into = r.address ? addr : data;
      mergeInto(into.from, src.from, -adv);
      mergeInto(into.fromLoad, src.fromLoad, -adv);
      into.start = Math.max(into.start, src.start - adv);
      into.startLoad = Math.max(into.startLoad, src.startLoad - adv);
      startAll = Math.max(startAll, src.start - adv, src.startLoad - adv, ...[...src.from.values()].map((l) => l - adv), ...[...src.fromLoad.values()].map((l) => l - adv));
    }
    for (const w of effects.writes) {
      if (stackEngine && w.pointerUpdate && w.reg === 'rsp') {
        // x86 cores rename the stack-pointer updates of push/pop/call/ret in the front end
        // (the stack engine): rsp depends on nothing but rsp, with no latency.
        const src = sourceOf(regs.id('rsp'));
        defs.set(regs.id('rsp'), { from: new Map(src.from), start: src.start, fromLoad: new Map(src.fromLoad), startLoad: src.startLoad });
        continue;
      }
      const lat = w.pointerUpdate && entry.ptrLat !== undefined ? entry.ptrLat : entry.lat + extra - saving;
      const out: Paths = { from: new Map(), start: -Infinity, fromLoad: new Map(), startLoad: -Infinity };
      mergeInto(out.fromLoad, data.fromLoad, lat);
      out.startLoad = data.startLoad + lat;
      if (forwarded) {
        // The value a store of this block wrote: its data paths, storeForward later, plus the
        // ALU part of a load-op; no cache access, so no load delay on these paths.
        const via = mech.storeForward! + entry.lat + extra - loadPart;
        mergeInto(out.from, data.from, lat);
        out.start = data.start + lat;
        mergeInto(out.from, forwarded.from, via);
        mergeInto(out.fromLoad, forwarded.fromLoad, via);
        out.start = Math.max(out.start, forwarded.start + via);
        out.startLoad = Math.max(out.startLoad, forwarded.startLoad + via);
      } else if (entry.load && !w.pointerUpdate) {
        // Every path through the address passes through the load.
        mergeInto(out.from, data.from, lat);
        out.start = data.start + lat;
        mergeInto(out.fromLoad, addr.from, lat);
        mergeInto(out.fromLoad, addr.fromLoad, lat);
        out.startLoad = Math.max(out.startLoad, Math.max(addr.start, addr.startLoad) + lat);
      } else {
        mergeInto(out.from, data.from, lat);
        mergeInto(out.from, addr.from, lat);
        mergeInto(out.fromLoad, addr.fromLoad, lat);
        out.start = Math.max(data.start, addr.start) + lat;
        out.startLoad = Math.max(out.startLoad, addr.startLoad + lat);
      }
      defs.set(regs.id(w.reg), out);
      span = Math.max(span, startAll + lat);
    }
    let storedPaths: Paths | undefined;
    if (access?.store && memory) {
      // A pure store writes its data registers' value; a read-modify-write its result.
      if (access.load) {
        const first = effects.writes.find((w) => !w.pointerUpdate);
        if (first) storedPaths = defs.get(regs.id(first.reg))!;
      } else storedPaths = { from: new Map(data.from), start: data.start, fromLoad: new Map(data.fromLoad), startLoad: data.startLoad };
      if (storedPaths) stored.set(access.key, { paths: storedPaths, bits: access.bits });
    }
    if (entry.store || access?.store) {
      // Stack slots (spills, locals, pushed registers): their data's ready time is kept for a
      // later block's reload; a call's return address is ready at once.
      if (storedPaths && access!.key.startsWith('rsp') && mech.storeForward !== undefined) {
        const id = regs.id(`${STORED_DATA}${storeRegs.length}`);
        defs.set(id, storedPaths);
        storeRegs.push(id);
      } else storeRegs.push(-1);
    }
    if (memory && looked.form) memory.retire(looked.form, effects);
  }
  // Real registers first; the stored-data pseudo registers last (`realOutputs`): they say when
  // a store's data is ready, not when the block's work is done.
  const pseudo = new Set(storeRegs);
  const outputs = [...[...defs.keys()].filter((r) => !pseudo.has(r)), ...storeRegs.filter((r) => r >= 0)];
  const n = inputs.length;
  const lat = new Float64Array(outputs.length * n).fill(-1);
  const latLoad = new Float64Array(outputs.length * n).fill(-1);
  const fromStart = new Float64Array(outputs.length).fill(-1);
  const fromStartLoad = new Float64Array(outputs.length).fill(-1);
  // Latencies are ≥ 0 in practice; a negative one (read advance larger than the path) is
  // clamped to 0 so -1 can mean "no path".
  outputs.forEach((reg, j) => {
    const d = defs.get(reg)!;
    for (const [i, l] of d.from) lat[j * n + i] = Math.max(0, l);
    for (const [i, l] of d.fromLoad) latLoad[j * n + i] = Math.max(0, l);
    if (d.start > -Infinity) fromStart[j] = Math.max(0, d.start);
    if (d.startLoad > -Infinity) fromStartLoad[j] = Math.max(0, d.startLoad);
  });
  const edges: Array<[number, number, number, number]> = [];
  const edgeStart = new Int32Array(outputs.length + 1);
  outputs.forEach((_, j) => {
    edgeStart[j] = edges.length;
    for (let i = 0; i < n; i++) {
      if (lat[j * n + i] >= 0) edges.push([inputs[i], j, lat[j * n + i], 0]);
      if (latLoad[j * n + i] >= 0) edges.push([inputs[i], j, latLoad[j * n + i], 1]);
    }
  });
  edgeStart[outputs.length] = edges.length;
  return {
    inputs: Int32Array.from(inputs), outputs: Int32Array.from(outputs), lat, latLoad, fromStart, fromStartLoad,
    edgeFrom: Int32Array.from(edges.map((e) => e[0])),
    edgeTo: Int32Array.from(edges.map((e) => e[1])),
    edgeLat: Float64Array.from(edges.map((e) => e[2])),
    edgeLoad: Uint8Array.from(edges.map((e) => e[3])),
    edgeStart,
    realOutputs: outputs.length - storeRegs.filter((r) => r >= 0).length,
    storeData: Int32Array.from(storeRegs, (id) => (id < 0 ? -1 : outputs.indexOf(id))),
    span,
  };
}

/** Decodes and prices a block the engine reports. Never throws for guest bytes. */
export function analyzeBlock(model: TimingModel, regs: RegisterIds, address: bigint, code: Uint8Array, serial = 0, mechanisms = true): BlockInfo {
  const arch = model.arch;
  const { insns, complete } = decodeBlock(arch, code, address);
  const instructions = arch === 'aarch64' ? code.length >>> 2 : insns.length + (complete ? 0 : 1);
  const cost = insns.length > 0 ? model.blockCost(insns, { mechanisms }) : undefined;
  const { kind, target } = complete ? terminatorOf(arch, insns[insns.length - 1]) : { kind: 'none' as const, target: undefined };
  let loads = 0;
  for (const i of insns) if (model.lookup(i.mnemonic, i.opStr).entry.load) loads++;
  const dataflow = summarize(model, insns, regs, kind !== 'none', mechanisms);
  let maxRegister = -1;
  for (const r of dataflow.inputs) maxRegister = Math.max(maxRegister, r);
  for (const r of dataflow.outputs) maxRegister = Math.max(maxRegister, r);
  return {
    address,
    size: code.length,
    instructions,
    insns,
    cost,
    cycles: cost?.cycles ?? 0,
    base: cost?.stack.base ?? 0,
    uops: cost?.uops ?? 0,
    loads,
    terminator: kind,
    target,
    dataflow,
    pc: Number(address),
    fallthrough: Number(address) + code.length,
    criticalPath: dataflow.span,
    terminatorCode: TERMINATORS.indexOf(kind),
    maxRegister,
    serial,
    branchOutput: dataflow.outputs.indexOf(regs.id(BRANCH_RESOLVED)),
  };
}

/** Block analyses cached by address and bytes (code at an address can change). */
export class BlockCache {
  private readonly byKey = new Map<string, BlockInfo>();
  readonly registers = new RegisterIds();
  /** `mechanisms` false: price as llvm-mca does (BlockCostOptions.mechanisms). */
  constructor(
    readonly model: TimingModel,
    readonly mechanisms = true,
  ) {}

  get(address: bigint, code: Uint8Array): BlockInfo {
    const key = `${address.toString(16)}:${Buffer.from(code.buffer, code.byteOffset, code.byteLength).toString('hex')}`;
    let info = this.byKey.get(key);
    if (!info) {
      info = analyzeBlock(this.model, this.registers, address, code, this.byKey.size, this.mechanisms);
      this.byKey.set(key, info);
    }
    return info;
  }
}
