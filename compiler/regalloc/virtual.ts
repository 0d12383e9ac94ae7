/**
 * The virtual-register form of one Wasm function, built from its operand stack.
 *
 * Every Wasm local is a virtual register (0..numLocals−1, defined by the entry, `local.set` and
 * `local.tee`); every value an instruction pushes is a fresh virtual register defined once
 * (SSA); the values at a control-flow join (a block's results, a loop's parameters) are one
 * virtual register per position that every incoming edge defines, as Cranelift's frontend
 * turns Wasm block results into block parameters. The lowering (compiler/lowering/) is run
 * over the body in a recording pass that tells this program each definition, use and safepoint
 * at its instruction's positions; `allocate` then computes live intervals and runs the
 * linear-scan allocator; the emitting pass asks it for the location of each value.
 *
 * Positions: the function entry is 0; instruction i reads its operands at 2i+1 and writes its
 * results at 2i+2, so an operand's last use and the result can share a register. A value
 * written while other values of the same instruction are still read (the values a branch carries
 * to its label) is an early definition at 2i+1. A value that survives a call inside instruction
 * i lives at least to 2i+2.
 */
import { CodegenError, type Loc } from '../codegen/common.ts';
import { WASM_INT_RESULT_REGISTERS } from '../codegen/returns.ts';
import type { Arch } from '../../isa/arch.ts';
import { isFloatType, localType, type DefinedFunction, type ValType } from '../frontend/module.ts';
import type { Safepoint, SafepointSpill } from '../lowering/values.ts';
import { linearScan, type Allocation, type LiveInterval, type RegisterSet } from './linear-scan.ts';

/** Where each virtual register ended up, for the listing and the property tests. */
export interface ValueAssignment {
  readonly vreg: number;
  readonly type: ValType;
  /** The local it is, or undefined for operand-stack and join values. */
  readonly local: number | undefined;
  readonly start: number;
  readonly end: number;
  readonly crossesCall: boolean;
  /** A register or an SP-relative slot offset. */
  readonly loc: Loc;
  /** For a reference in a register that crosses a call: its spill slot. */
  readonly home: number | undefined;
}

export class VirtualProgram {
  /** Type of each virtual register. */
  readonly types: ValType[] = [];
  private next: number;
  private emitting = false;
  private readonly start: number[] = [];
  private readonly end: number[] = [];
  private readonly crosses: boolean[] = [];
  private readonly hints: (number | undefined)[] = [];
  /** Spill cost of each virtual register: its recorded definitions and uses, by loop depth. */
  private readonly weights: number[] = [];
  /** 8^(loops around instruction i), capped. */
  private readonly loopWeight: number[];
  /** Recording pass: definitions, uses and emitted macro-instructions in the order they happen. */
  private readonly events: RecordedEvent[] = [];
  private allocation: Allocation | undefined;
  private spillBase = 0;

  constructor(
    private readonly arch: Arch,
    private readonly fn: DefinedFunction,
    /** Index of the instruction being lowered. */
    private readonly instrIndex: () => number,
  ) {
    const numLocals = fn.type.params.length + fn.locals.length;
    for (let l = 0; l < numLocals; l++) this.types.push(localType(fn, l)!);
    this.next = numLocals;
    this.loopWeight = loopWeights(fn);
  }

  /** True until `beginEmitting`. */
  get recording(): boolean {
    return !this.emitting;
  }

  get numLocals(): number {
    return this.fn.type.params.length + this.fn.locals.length;
  }

  /** A fresh virtual register (the same numbering in both passes: the lowering is deterministic). */
  newValue(t: ValType): number {
    const v = this.next++;
    if (!this.emitting) this.types[v] = t;
    return v;
  }

  def(v: number): Loc {
    if (!this.emitting) this.events.push({ kind: 'def', v });
    return this.at(v, 2 * this.instrIndex() + 2);
  }
  use(v: number): Loc {
    if (!this.emitting) this.events.push({ kind: 'use', v });
    return this.at(v, 2 * this.instrIndex() + 1);
  }
  earlyDef(v: number): Loc {
    if (!this.emitting) this.events.push({ kind: 'def', v });
    return this.at(v, 2 * this.instrIndex() + 1);
  }

  /** Recording pass: the lowering emitted macro-instruction `name` (the recording assembler reports it). */
  noteInstruction(name: string, args: readonly unknown[]): void {
    if (!this.emitting) this.events.push({ kind: 'op', name, binop: name === 'binop' ? String(args[0]) : undefined });
  }

  /** Whether the block that the instruction being lowered opens (to its `end`) has a `local.set` or `local.tee` of `l`. */
  writesLocalInBlock(l: number): boolean {
    const body = this.fn.body;
    let depth = 0;
    for (let i = this.instrIndex(); i < body.length; i++) {
      const instr = body[i];
      if (instr.op === 'block' || instr.op === 'loop' || instr.op === 'if') depth++;
      else if (instr.op === 'end' && --depth === 0) return false;
      else if ((instr.op === 'local.set' || instr.op === 'local.tee') && instr.local === l) return true;
    }
    return false;
  }

  /**
   * The local that the one result of the block the instruction being lowered opens can be: the
   * block's `end` is followed by a `local.set` or `local.tee` of a numeric local of the result's
   * type. Undefined otherwise.
   */
  blockResultLocal(results: readonly ValType[]): number | undefined {
    if (results.length !== 1 || !(results[0] === 'i32' || results[0] === 'i64' || results[0] === 'f32' || results[0] === 'f64')) return undefined;
    const opener = this.fn.body[this.instrIndex()] as { end?: number };
    const after = opener.end === undefined ? undefined : this.fn.body[opener.end + 1];
    if (after === undefined || after.dead || (after.op !== 'local.set' && after.op !== 'local.tee')) return undefined;
    return this.types[after.local] === results[0] ? after.local : undefined;
  }

  /** Records that `dst` is copied from `src` (recording pass): the allocator tries to give both one register. */
  hint(dst: number, src: number | undefined): void {
    if (this.emitting || src === undefined || dst === src) return;
    if (this.hints[dst] === undefined) this.hints[dst] = src;
    if (this.hints[src] === undefined) this.hints[src] = dst;
  }

  /** Records (recording pass) or answers (emitting pass) a safepoint that `survivors` live across. */
  safepoint(survivors: readonly number[]): Safepoint {
    if (!this.emitting) {
      const after = 2 * this.instrIndex() + 2;
      for (const v of survivors) {
        this.crosses[v] = true;
        this.touch(v, after);
      }
      return { liveSlots: [], spills: [] };
    }
    const liveSlots = new Set<number>();
    const spills: SafepointSpill[] = [];
    for (const v of new Set(survivors)) {
      if (this.types[v] !== 'externref') continue;
      const loc = this.location(v);
      if (typeof loc === 'number') {
        liveSlots.add(loc);
      } else {
        const slot = this.slotOffset(this.allocation!.slot.get(v)!);
        spills.push({ reg: loc, slot, vreg: v });
        liveSlots.add(slot);
      }
    }
    return { liveSlots: [...liveSlots].sort((a, b) => a - b), spills };
  }

  /**
   * Ends the recording pass: live intervals (locals from `liveIn`/`liveAfter`, the dataflow
   * liveness over the body; other values from their recorded positions, which cover their whole
   * life because operand-stack values are structured), then the allocation.
   */
  allocate(
    liveness: { liveIn(i: number): readonly number[]; liveAfter(i: number): readonly number[] },
    regs: RegisterSet,
    floatRegs?: RegisterSet,
  ): Allocation {
    for (const l of liveness.liveIn(0)) this.touch(l, 0);
    this.fn.body.forEach((instr, i) => {
      if (instr.dead) return;
      for (const l of liveness.liveIn(i)) this.touch(l, 2 * i + 1);
      for (const l of liveness.liveAfter(i)) this.touch(l, 2 * i + 2);
    });
    const inReturnRegister = this.returnRegisterValues();
    const intervals: LiveInterval[] = [];
    for (let v = 0; v < this.next; v++) {
      if (this.start[v] === undefined) continue;
      intervals.push({
        vreg: v, start: this.start[v], end: this.end[v], isRef: this.types[v] === 'externref', crossesCall: this.crosses[v] === true,
        hint: this.hints[v], isFloat: isFloatType(this.types[v]), weight: this.weights[v] ?? 0,
        ...(inReturnRegister.has(v) ? { returnRegister: true } : {}),
      });
    }
    this.allocation = linearScan(intervals, { ...regs, returnRegister: WASM_INT_RESULT_REGISTERS[this.arch][0] }, floatRegs);
    return this.allocation;
  }

  /**
   * The values that may live in the return register (x64 rax, AArch64 x0), as Cranelift's
   * fixed-register operands put a call's result where it arrives and compute a returned value
   * where it leaves: an i32/i64 operand-stack value (no local, not live across a call) defined
   * once, by a call's result (`storeReturn`) or an integer ALU `binop`, and read only by the next
   * macro-instruction after that, an ALU `binop` or the function result's `loadResult`, where
   * it arrives in the register (a call's result) or leaves from it (the result). Nothing
   * else is emitted while it lives, so no scratch use of the register (x64's rax is R0) and no
   * call can clobber it; the backends' `binop` reads an operand in the return register before it
   * writes a scratch register.
   */
  private returnRegisterValues(): Set<number> {
    const out = new Set<number>();
    const events = this.events;
    const nextOp: (number | undefined)[] = new Array(events.length);
    for (let k = events.length - 1, next: number | undefined; k >= 0; k--) {
      nextOp[k] = next;
      if (events[k].kind === 'op') next = k;
    }
    const defs = new Map<number, number[]>();
    const uses = new Map<number, number[]>();
    events.forEach((e, k) => {
      if (e.kind === 'op') return;
      const into = e.kind === 'def' ? defs : uses;
      const list = into.get(e.v);
      if (list) list.push(k);
      else into.set(e.v, [k]);
    });
    const aluBinop = (k: number | undefined): boolean => {
      const e = k === undefined ? undefined : events[k];
      return e?.kind === 'op' && e.name === 'binop' && RETURN_REGISTER_BINOPS.has(e.binop!);
    };
    const isOp = (k: number | undefined, name: string): boolean => {
      const e = k === undefined ? undefined : events[k];
      return e?.kind === 'op' && e.name === name;
    };
    for (const [v, d] of defs) {
      const u = uses.get(v);
      if (v < this.numLocals || d.length !== 1 || u === undefined || this.crosses[v] === true) continue;
      if (this.types[v] !== 'i32' && this.types[v] !== 'i64') continue;
      const producer = nextOp[d[0]];
      if (!(isOp(producer, 'storeReturn') || aluBinop(producer))) continue;
      if (u.some((k) => k < producer!)) continue;
      const consumer = nextOp[u[u.length - 1]];
      if (consumer === undefined || nextOp[producer!] !== consumer) continue;
      // Only where the register saves a move: the value arrives or leaves there (between two
      // binops x64's two-address form keeps the result in its operand's register anyway).
      const arrives = isOp(producer, 'storeReturn');
      const leaves = isOp(consumer, 'loadResult');
      if ((arrives || leaves) && (aluBinop(consumer) || leaves)) out.add(v);
    }
    return out;
  }

  /** Starts the emitting pass; spill slot k is at SP + spillBase + 8k. */
  beginEmitting(spillBase: number): void {
    this.emitting = true;
    this.spillBase = spillBase;
    this.next = this.numLocals;
  }

  /** The location of virtual register `v` in the emitting pass (undefined: never live). */
  locationOf(v: number): Loc | undefined {
    if (this.start[v] === undefined) return undefined;
    return this.location(v);
  }

  /** Where every live value was put. */
  assignments(): ValueAssignment[] {
    const out: ValueAssignment[] = [];
    for (let v = 0; v < this.types.length; v++) {
      if (this.start[v] === undefined) continue;
      const home = this.types[v] === 'externref' && this.allocation!.register.has(v) && this.crosses[v] ? this.slotOffset(this.allocation!.slot.get(v)!) : undefined;
      out.push({
        vreg: v, type: this.types[v], local: v < this.numLocals ? v : undefined, start: this.start[v], end: this.end[v],
        crossesCall: this.crosses[v] === true, loc: this.location(v), home,
      });
    }
    return out;
  }

  private location(v: number): Loc {
    const a = this.allocation!;
    const r = a.register.get(v);
    if (r !== undefined) return r;
    const s = a.slot.get(v);
    if (s === undefined) throw new CodegenError(this.arch, `virtual register ${v} has no location`);
    return this.slotOffset(s);
  }
  private slotOffset(k: number): number {
    return this.spillBase + 8 * k;
  }

  private at(v: number, position: number): Loc {
    if (this.emitting) return this.location(v);
    this.touch(v, position);
    this.weights[v] = (this.weights[v] ?? 0) + (this.loopWeight[this.instrIndex()] ?? 1);
    return 0;
  }
  private touch(v: number, position: number): void {
    if (this.start[v] === undefined || position < this.start[v]) this.start[v] = position;
    if (this.end[v] === undefined || position > this.end[v]) this.end[v] = position;
  }
}

/** One recorded event: a value defined or used, or a macro-instruction emitted. */
type RecordedEvent =
  | { readonly kind: 'def' | 'use'; readonly v: number }
  | { readonly kind: 'op'; readonly name: string; readonly binop: string | undefined };

/** The binops a value in the return register may feed or come from (both backends read operands first, write the destination last). */
const RETURN_REGISTER_BINOPS: ReadonlySet<string> = new Set(['add', 'sub', 'mul', 'and', 'or', 'xor']);

/** 8^(number of loops around each instruction), capped at 8^6: how often it runs, roughly. */
function loopWeights(fn: DefinedFunction): number[] {
  const weights: number[] = [];
  const open: boolean[] = [];
  let depth = 0;
  for (const instr of fn.body) {
    if (instr.op === 'block' || instr.op === 'if' || instr.op === 'loop') {
      open.push(instr.op === 'loop');
      if (instr.op === 'loop') depth++;
    } else if (instr.op === 'end' && open.length > 0 && open.pop()) {
      depth--;
    }
    weights.push(8 ** Math.min(depth, 6));
  }
  return weights;
}
