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
import { branchTarget, type BlockCost, type TimingModel } from './model.ts';

/** How control leaves a block. `none`: the block ended without a branch (page end, size cap, trap). */
export type Terminator = 'none' | 'cond' | 'jump' | 'indirect' | 'call' | 'icall' | 'ret';

/**
 * Register dataflow of a block as a function from input ready times to output ready times:
 * out[j] = max(start + fromStart[j], max_i(in[i] + lat[j][i])) (+ the block's memory delay when
 * `afterLoad[j]`). Registers are small integers from a RegisterIds table.
 */
export interface DataflowSummary {
  readonly inputs: Int32Array;
  readonly outputs: Int32Array;
  /** outputs.length × inputs.length, row-major; -1 marks "no dependency". */
  readonly lat: Float64Array;
  readonly fromStart: Float64Array;
  /** 1 when some path to the output goes through a load of this block. */
  readonly afterLoad: Uint8Array;
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
}

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

/**
 * Builds the dataflow summary with the same latency rules as the static model's loop-carried
 * bound (load-op read advance, late accumulator forwarding, fast pointer updates).
 */
function summarize(model: TimingModel, insns: readonly DecodedInsn[], regs: RegisterIds): DataflowSummary {
  // For every register defined so far in the block: latency from each input (by input index)
  // and from the block start, and whether a load lies on some path to it.
  const inputIndex = new Map<number, number>();
  const inputs: number[] = [];
  interface Def { from: Map<number, number>; start: number; load: boolean }
  const defs = new Map<number, Def>();
  const sourceOf = (reg: number): Def => {
    const d = defs.get(reg);
    if (d) return d;
    let i = inputIndex.get(reg);
    if (i === undefined) {
      i = inputs.length;
      inputs.push(reg);
      inputIndex.set(reg, i);
    }
    return { from: new Map([[i, 0]]), start: -Infinity, load: false };
  };
  for (const insn of insns) {
    const { entry, effects } = model.lookup(insn.mnemonic, insn.opStr);
    const advance = entry.regLat !== undefined ? entry.lat - entry.regLat : 0;
    const accAdvance = entry.accLat !== undefined ? Math.max(0, entry.lat - entry.accLat) : 0;
    const from = new Map<number, number>();
    let start = 0;
    let load = entry.load;
    for (const r of effects.reads) {
      const src = sourceOf(regs.id(r.reg));
      const adv = r.address ? 0 : r.accumulator ? accAdvance : advance;
      for (const [i, l] of src.from) from.set(i, Math.max(from.get(i) ?? -Infinity, l - adv));
      start = Math.max(start, src.start - adv);
      load ||= src.load;
    }
    for (const w of effects.writes) {
      const lat = w.pointerUpdate && entry.ptrLat !== undefined ? entry.ptrLat : entry.lat;
      const f = new Map<number, number>();
      for (const [i, l] of from) f.set(i, l + lat);
      defs.set(regs.id(w.reg), { from: f, start: start + lat, load: load && !w.pointerUpdate });
    }
  }
  const outputs = [...defs.keys()];
  const lat = new Float64Array(outputs.length * inputs.length).fill(-1);
  const fromStart = new Float64Array(outputs.length);
  const afterLoad = new Uint8Array(outputs.length);
  outputs.forEach((reg, j) => {
    const d = defs.get(reg)!;
    for (const [i, l] of d.from) lat[j * inputs.length + i] = l;
    fromStart[j] = Math.max(0, d.start);
    afterLoad[j] = d.load ? 1 : 0;
  });
  return { inputs: Int32Array.from(inputs), outputs: Int32Array.from(outputs), lat, fromStart, afterLoad };
}

/** Decodes and prices a block the engine reports. Never throws for guest bytes. */
export function analyzeBlock(model: TimingModel, regs: RegisterIds, address: bigint, code: Uint8Array): BlockInfo {
  const arch = model.arch;
  const { insns, complete } = decodeBlock(arch, code, address);
  const instructions = arch === 'aarch64' ? code.length >>> 2 : insns.length + (complete ? 0 : 1);
  const cost = insns.length > 0 ? model.blockCost(insns) : undefined;
  const { kind, target } = complete ? terminatorOf(arch, insns[insns.length - 1]) : { kind: 'none' as const, target: undefined };
  let loads = 0;
  for (const i of insns) if (model.lookup(i.mnemonic, i.opStr).entry.load) loads++;
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
    dataflow: summarize(model, insns, regs),
  };
}

/** Block analyses cached by address and bytes (code at an address can change). */
export class BlockCache {
  private readonly byKey = new Map<string, BlockInfo>();
  readonly registers = new RegisterIds();
  constructor(readonly model: TimingModel) {}

  get(address: bigint, code: Uint8Array): BlockInfo {
    const key = `${address.toString(16)}:${Buffer.from(code.buffer, code.byteOffset, code.byteLength).toString('hex')}`;
    let info = this.byKey.get(key);
    if (!info) {
      info = analyzeBlock(this.model, this.registers, address, code);
      this.byKey.set(key, info);
    }
    return info;
  }
}
