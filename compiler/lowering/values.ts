/**
 * Where Wasm values live between instructions: the value-location layer, the seam between the
 * lowering and the register allocator. Two implementations:
 *
 * - `SlotValues` (`--regalloc none`): every operand-stack entry and every local has its own
 *   8-byte frame slot, so a value's location is its stack depth or local index, nothing is live
 *   in a register at a call, and a stack map only names slots.
 * - `RegisterValues` (`--regalloc linear-scan`): every value is a virtual register
 *   (compiler/regalloc/virtual.ts) whose location the linear-scan allocator chose: a register or
 *   a spill slot for its whole life. The lowering runs twice over the body: once recording the
 *   virtual-register program, once emitting code with the allocation.
 *
 * The lowering asks for locations only through this interface (push/pop/peek, locals, the
 * values a branch carries to its label, and safepoints), so frame layout, environment
 * addressing, control flow and call sites do not depend on which one is in use.
 */
import type { Loc, Operand } from '../codegen/common.ts';
import { isRefType, valueBytes, type ValType } from '../frontend/module.ts';
import type { VirtualProgram } from '../regalloc/virtual.ts';

/** Whether a value of type `t` is handled as 64 bits (everything but i32 and f32, whose bits
 * travel zero-extended in the low half). */
export const wideType = (t: ValType): boolean => valueBytes(t) === 8;

/** A call argument read from a value's location (`wide`: 64-bit, else 32-bit zero-extending). */
export const valueArg = (loc: Loc, wide: boolean): Operand => ({ kind: 'value', loc, wide });
/** A constant call argument. */
export const imm = (value: number | bigint): Operand => ({ kind: 'imm', value: BigInt(value) });

/** A reference in a register that a call must not clobber: spilled to `slot` before, reloaded after. */
export interface SafepointSpill {
  readonly reg: string;
  readonly slot: number;
  /** The virtual register (for the listing). */
  readonly vreg: number;
}

/** What a call site needs from the value layer. */
export interface Safepoint {
  /** SP-relative byte offsets of the slots holding live externrefs, ascending: the stack map. */
  readonly liveSlots: readonly number[];
  readonly spills: readonly SafepointSpill[];
}

/** One copy the lowering emits: `dst` ← `src`. */
export interface Move {
  readonly dst: Loc;
  readonly src: Loc;
}

/** Per-control-frame state the value layer keeps (opaque to control.ts). */
export interface BlockValues {
  /** The operand stack below the block's parameters' top, at entry (for `else`). */
  readonly entry: unknown;
  /** Virtual registers of the values a branch to the label carries (reg mode; else empty). */
  readonly label: readonly number[];
  /** Virtual registers of the block's results (reg mode; else empty). */
  readonly results: readonly number[];
  /**
   * Moves to emit at the block's entry (before a loop's label and an if's branch): entries
   * below the block that refer to a local the block writes, copied out; then a loop's
   * parameters into its join values.
   */
  readonly entryMoves: readonly Move[];
}

export interface Values {
  /** Whether values must be moved at control-flow joins (registers); false: slots by depth. */
  readonly movesAtJoins: boolean;
  /** The recording pass of `linear-scan` (locations are placeholders). */
  readonly recording: boolean;
  /** Operand-stack height. */
  h: number;
  /** The type of each operand-stack entry below `h`. */
  readonly types: ValType[];
  /** Pushes a value of type `t`; returns the location it is to be written to. */
  push(t: ValType): Loc;
  /**
   * Pushes a scratch value an instruction writes while it still reads its operands (v31's GC
   * instructions keep the object they allocate, a size or a test result there): with registers
   * an early definition, so it never shares a register with an operand. Pop it before the
   * instruction ends.
   */
  pushScratch(t: ValType): Loc;
  /**
   * `i32.const` / `i64.const`: with registers (and a constant that needs no scratch register to
   * be written anywhere: any i32, an i64 that is a sign-extended imm32) pushes a constant entry
   * and returns true; nothing is emitted until an instruction pops it without taking it as an
   * immediate (`takeConstant`), then it is written to a fresh register at that point. False: the
   * lowering pushes and writes it itself.
   */
  pushConst(t: ValType, value: bigint): boolean;
  /** The value of entry `d` when it is a constant entry (see `pushConst`), else undefined. */
  constantAt(d: number): bigint | undefined;
  /** Removes entry `d` when it is a constant entry (the entries above move down) and returns its value. */
  takeConstant(d: number): bigint | undefined;
  /** Pops the top value; returns its location. */
  pop(): Loc;
  /** Pops the top value without reading it (`drop`). */
  discard(): void;
  /** The location of operand-stack entry `d` (read). */
  peek(d: number): Loc;
  /** Gives the top entry a new type (`i32.wrap_i64`: the same bits, read as 32). */
  retypeTop(t: ValType): void;
  /**
   * `local.get l`: pushes local `l`'s value (of type `t`). Returns the copy to emit (the new entry's location
   * ← the local's), or undefined when the entry is a reference to the local itself (registers,
   * numeric locals: nothing to emit; the reference is turned into a copy only if the local is
   * overwritten while the entry is still on the operand stack, see `setLocal` and `enterBlock`).
   */
  getLocal(l: number, t: ValType): Move | undefined;
  /**
   * `local.set l` (`keep` false: the top entry is popped) or `local.tee l` (`keep`): the moves
   * that write the top value into local `l`, to emit in order. With registers they first copy
   * out every other entry that still refers to the local, and none is needed when the top
   * entry already is the local (its producer computed into it, see `resultInto`).
   */
  setLocal(l: number, keep: boolean): Move[];
  /**
   * The next `push` (the result of the instruction being lowered) is to define the value the
   * next instruction would copy it to: local `local` (the next instruction is `local.set` or
   * `local.tee` of it; registers, numeric locals, and no other entry refers to the local), or
   * the single result of `block` (the next instruction is the `else` or `end` that moves it
   * there). Else, or with slots, the push is an ordinary one. `undefined` cancels it; the
   * lowering cancels it after every instruction.
   */
  resultInto(target: { readonly local: number } | { readonly block: BlockValues } | undefined): void;
  /** Opens a block whose parameters are the top `params` entries. */
  enterBlock(kind: 'function' | 'block' | 'loop' | 'if', params: readonly ValType[], results: readonly ValType[]): BlockValues;
  /** The location where a branch to a frame leaves its k-th value (copied from entry `fromDepth`). */
  labelLoc(block: BlockValues, base: number, k: number, fromDepth?: number): Loc;
  /** The location where the frame's k-th result is at its end (fallthrough and branches). */
  resultLoc(block: BlockValues, base: number, k: number, fromDepth?: number): Loc;
  /** Resets the operand stack to the block's entry (`else`, and the implicit else of an `if`). */
  restoreEntry(block: BlockValues): void;
  /** Closes a block: the stack becomes base + its results. */
  endBlock(kind: 'function' | 'block' | 'loop' | 'if', block: BlockValues, base: number, results: readonly ValType[]): void;
  /** The stack map and the spills of a call: entries below `liveHeight` and `liveLocals` survive it. */
  safepoint(liveHeight: number, liveLocals: readonly number[]): Safepoint;
}

const NO_BLOCK_VALUES = { label: [], results: [], entryMoves: [] } as const;
const NO_SPILLS: readonly SafepointSpill[] = Object.freeze([]);
/** Sorts numbers in place; a few (the usual safepoint) by insertion, as Array.prototype.sort copies the array first. */
function sortAscending(xs: number[]): void {
  if (xs.length > 16) {
    xs.sort((a, b) => a - b);
    return;
  }
  for (let i = 1; i < xs.length; i++) {
    const x = xs[i];
    let j = i - 1;
    for (; j >= 0 && xs[j] > x; j--) xs[j + 1] = xs[j];
    xs[j + 1] = x;
  }
}

export class SlotValues implements Values {
  readonly movesAtJoins = false;
  readonly recording = false;
  h = 0;
  readonly types: ValType[] = [];

  constructor(
    /** SP-relative offset of operand-stack entry d. */
    readonly slot: (d: number) => number,
    /** SP-relative offset of local l. */
    readonly local: (l: number) => number,
  ) {}

  push(t: ValType): number {
    this.types[this.h] = t;
    return this.slot(this.h++);
  }
  pushScratch(t: ValType): number {
    return this.push(t);
  }
  pushConst(): boolean {
    return false;
  }
  constantAt(): undefined {
    return undefined;
  }
  takeConstant(): undefined {
    return undefined;
  }
  pop(): number {
    this.h--;
    return this.slot(this.h);
  }
  discard(): void {
    this.h--;
  }
  peek(d: number): number {
    return this.slot(d);
  }
  retypeTop(t: ValType): void {
    this.types[this.h - 1] = t;
  }
  getLocal(l: number, t: ValType): Move {
    return { dst: this.push(t), src: this.local(l) };
  }
  setLocal(l: number, keep: boolean): Move[] {
    return [{ dst: this.local(l), src: keep ? this.peek(this.h - 1) : this.pop() }];
  }
  resultInto(): void {}
  enterBlock(): BlockValues {
    return { entry: this.types.slice(0, this.h), ...NO_BLOCK_VALUES };
  }
  labelLoc(_block: BlockValues, base: number, k: number): number {
    return this.slot(base + k);
  }
  resultLoc(_block: BlockValues, base: number, k: number): number {
    return this.slot(base + k);
  }
  restoreEntry(block: BlockValues): void {
    const entry = block.entry as ValType[];
    this.h = entry.length;
    this.types.length = 0;
    this.types.push(...entry);
  }
  endBlock(_kind: string, _block: BlockValues, base: number, results: readonly ValType[]): void {
    this.h = base + results.length;
    this.types.length = base;
    this.types.push(...results);
  }

  /** Operand-stack entries below `liveHeight` holding externrefs, and the externref locals in `liveLocals`. */
  safepoint(liveHeight: number, liveLocals: readonly number[]): Safepoint {
    const live: number[] = [];
    for (let d = 0; d < liveHeight; d++) if (this.types[d] === 'externref') live.push(this.slot(d));
    for (const l of liveLocals) live.push(this.local(l));
    sortAscending(live);
    return { liveSlots: live, spills: NO_SPILLS };
  }
}

/**
 * Values as virtual registers: locals are virtual registers 0..numLocals−1 (defined more than
 * once), every push defines a fresh one, and the values at a join (a block's results, a loop's
 * parameters) are one virtual register per position that each incoming edge writes. In the
 * recording pass the program records each definition and use at the instruction's positions;
 * in the emitting pass it answers with the allocated location.
 */
export class RegisterValues implements Values {
  readonly movesAtJoins = true;
  h = 0;
  readonly types: ValType[] = [];
  /** The virtual register of each operand-stack entry below `h` (a local's own: a reference to it). */
  private readonly stack: number[] = [];
  /** The virtual register the next push defines (`resultInto`): a local or a block's result. */
  private target: number | undefined;

  /** Constant entries (`pushConst`): their placeholder virtual registers, which are never defined. */
  private readonly constants = new Map<number, bigint>();

  constructor(
    private readonly program: VirtualProgram,
    /** Writes a constant to a location (the lowering's assembler). */
    private readonly writeConst: (dst: Loc, value: bigint) => void,
  ) {}

  get recording(): boolean {
    return this.program.recording;
  }

  push(t: ValType): Loc {
    const l = this.target;
    this.target = undefined;
    const isLocal = l !== undefined && l < this.program.numLocals;
    if (l !== undefined && this.program.types[l] === t && (!isLocal || (aliasable(t) && !this.refersTo(l, this.h)))) {
      this.stack[this.h] = l;
      this.types[this.h++] = t;
      return this.program.def(l);
    }
    const v = this.program.newValue(t);
    this.stack[this.h] = v;
    this.types[this.h++] = t;
    return this.program.def(v);
  }
  pushScratch(t: ValType): Loc {
    const v = this.program.newValue(t);
    this.stack[this.h] = v;
    this.types[this.h++] = t;
    return this.program.earlyDef(v);
  }
  pushConst(t: ValType, value: bigint): boolean {
    const v = t === 'i32' ? BigInt.asIntN(32, value) : BigInt.asIntN(64, value);
    if (this.target !== undefined || (t !== 'i32' && (t !== 'i64' || v < -0x8000_0000n || v > 0x7fff_ffffn))) return false;
    const placeholder = this.program.newValue(t);
    this.constants.set(placeholder, v);
    this.stack[this.h] = placeholder;
    this.types[this.h++] = t;
    return true;
  }
  constantAt(d: number): bigint | undefined {
    return d >= 0 && d < this.h ? this.constants.get(this.stack[d]) : undefined;
  }
  takeConstant(d: number): bigint | undefined {
    const value = this.constantAt(d);
    if (value === undefined) return undefined;
    this.stack.splice(d, 1);
    this.types.splice(d, 1);
    this.h--;
    return value;
  }
  pop(): Loc {
    this.materialize(this.h - 1);
    this.h--;
    return this.program.use(this.stack[this.h]);
  }
  discard(): void {
    this.h--;
  }
  peek(d: number): Loc {
    this.materialize(d);
    return this.program.use(this.stack[d]);
  }
  /**
   * A constant entry about to be read: written to a fresh value here (an early definition, so
   * it takes no register another operand of the instruction is read from). The placeholder
   * stays in saved entry stacks, so every path writes its own.
   */
  private materialize(d: number): void {
    const value = this.constants.get(this.stack[d]);
    if (value === undefined) return;
    const v = this.program.newValue(this.types[d]);
    this.stack[d] = v;
    this.writeConst(this.program.earlyDef(v), value);
  }
  retypeTop(t: ValType): void {
    this.types[this.h - 1] = t;
  }
  getLocal(l: number, t: ValType): Move | undefined {
    if (aliasable(t)) {
      this.stack[this.h] = l;
      this.types[this.h++] = t;
      return undefined;
    }
    const src = this.program.use(l);
    return { dst: this.push(t), src };
  }
  setLocal(l: number, keep: boolean): Move[] {
    this.materialize(this.h - 1);
    const top = this.stack[this.h - 1];
    if (top === l) {
      if (!keep) this.h--;
      return [];
    }
    // Entries that still refer to the local keep its old value: copied out first. Each copy is
    // an early definition, so it takes no register the instruction still reads.
    const moves: Move[] = [];
    for (let d = 0; d < this.h - 1; d++) if (this.stack[d] === l) moves.push(this.copyOut(d));
    this.program.hint(l, top);
    moves.push({ dst: this.program.def(l), src: this.program.use(top) });
    if (!keep) this.h--;
    else if (aliasable(this.types[this.h - 1])) this.stack[this.h - 1] = l;
    return moves;
  }
  resultInto(target: { readonly local: number } | { readonly block: BlockValues } | undefined): void {
    if (target === undefined) this.target = undefined;
    else if ('local' in target) this.target = target.local;
    else this.target = target.block.results.length === 1 ? target.block.results[0] : undefined;
  }
  enterBlock(kind: 'function' | 'block' | 'loop' | 'if', params: readonly ValType[], results: readonly ValType[]): BlockValues {
    const base = this.h - params.length;
    // An entry below the block that refers to a local the block writes must not change with it
    // (it is still there after the block, on every path): copied out at the entry.
    // A block whose one result goes straight to `local.set l` has l as its result: the arms and
    // the branches out of it write the local (so it counts as a local the block writes).
    const into = kind === 'block' || kind === 'if' ? this.program.blockResultLocal(results) : undefined;
    const moves: Move[] = [];
    for (let d = 0; d < base; d++) {
      const l = this.stack[d];
      if (l < this.program.numLocals && (l === into || this.program.writesLocalInBlock(l))) moves.push(this.copyOut(d));
    }
    const entry = this.snapshot();
    if (kind !== 'loop') {
      const resultValues = into !== undefined ? [into] : results.map((t) => this.program.newValue(t));
      return { entry, label: resultValues, results: resultValues, entryMoves: moves };
    }
    // A loop's parameters become join values that the entry and every back edge write.
    for (let d = base; d < this.h; d++) this.materialize(d);
    const label = params.map((t) => this.program.newValue(t));
    for (let k = 0; k < label.length; k++) moves.push({ src: this.program.use(this.stack[base + k]), dst: this.joinDef(label, k, base + k) });
    label.forEach((v, k) => (this.stack[base + k] = v));
    return { entry, label, results: [], entryMoves: moves };
  }
  /** Replaces operand-stack entry `d` (a reference to a local) by a copy of the local's value. */
  private copyOut(d: number): Move {
    const copy = this.program.newValue(this.types[d]);
    const move = { src: this.program.use(this.stack[d]), dst: this.program.earlyDef(copy) };
    this.stack[d] = copy;
    return move;
  }
  /** Whether an entry below `height` is a reference to local `l`. */
  private refersTo(l: number, height: number): boolean {
    for (let d = 0; d < height; d++) if (this.stack[d] === l) return true;
    return false;
  }
  labelLoc(block: BlockValues, _base: number, k: number, fromDepth?: number): Loc {
    return this.joinDef(block.label, k, fromDepth);
  }
  resultLoc(block: BlockValues, base: number, k: number, fromDepth?: number): Loc {
    return block.results.length > 0 ? this.joinDef(block.results, k, fromDepth) : this.peek(base + k);
  }
  /**
   * Defines join value k of `values`. Several values move at once (a parallel move done as
   * copies in order), so each destination is an early definition that must not share a
   * register with any source; a single value may (its one move can be dropped).
   */
  private joinDef(values: readonly number[], k: number, fromDepth: number | undefined): Loc {
    if (fromDepth !== undefined) this.program.hint(values[k], this.stack[fromDepth]);
    return values.length > 1 ? this.program.earlyDef(values[k]) : this.program.def(values[k]);
  }
  restoreEntry(block: BlockValues): void {
    const { types, stack } = block.entry as { types: ValType[]; stack: number[] };
    this.h = types.length;
    this.types.length = 0;
    this.types.push(...types);
    this.stack.length = 0;
    this.stack.push(...stack);
  }
  endBlock(kind: 'function' | 'block' | 'loop' | 'if', block: BlockValues, base: number, results: readonly ValType[]): void {
    // A loop's results are whatever its body left on top (a loop end is no branch target).
    const values = kind === 'loop' ? results.map((t, k) => this.stack[this.h - results.length + k] ?? this.program.newValue(t)) : block.results;
    this.h = base + results.length;
    this.types.length = base;
    this.types.push(...results);
    this.stack.length = base;
    this.stack.push(...values);
  }
  safepoint(liveHeight: number, liveLocals: readonly number[]): Safepoint {
    const survivors = this.stack.slice(0, liveHeight).filter((v) => !this.constants.has(v));
    for (const l of liveLocals) survivors.push(l);
    return this.program.safepoint(survivors);
  }

  private snapshot(): { types: ValType[]; stack: number[] } {
    return { types: this.types.slice(0, this.h), stack: this.stack.slice(0, this.h) };
  }
}

/**
 * Whether `local.get` of a local of type `t` may push a reference to the local (registers):
 * numeric values only, so that every reference type still has one virtual register per
 * operand-stack entry and a stack map one slot per live reference.
 */
const aliasable = (t: ValType): boolean => t === 'i32' || t === 'i64' || t === 'f32' || t === 'f64';

/** Whether values of type `t` are references a stack map must know about (externref only:
 * funcrefs are not reference-counted). */
export const isTracedRef = (t: ValType): boolean => isRefType(t) && t === 'externref';
