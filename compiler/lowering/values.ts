/**
 * Where Wasm values live between instructions: the value-location layer. Today every
 * operand-stack entry and every local has its own 8-byte frame slot, so a value's location is
 * its stack depth or local index, and nothing is live in a register at a call; a stack map then
 * only has to name slots. A register allocator replaces this class (and the slot operands the
 * lowering hands the MacroAssembler); frame layout, environment addressing, control flow and
 * call sites ask it for locations and do not depend on it being slots.
 */
import type { Operand } from '../codegen/common.ts';
import type { ValType } from '../frontend/module.ts';

/** Whether a value of type `t` is handled as 64 bits (everything but i32). */
export const wideType = (t: ValType): boolean => t !== 'i32';

/** A call argument read from a frame slot (`wide`: 64-bit load, else 32-bit zero-extending). */
export const slotArg = (offset: number, wide: boolean): Operand => ({ kind: 'slot', offset, wide });
/** A constant call argument. */
export const imm = (value: number | bigint): Operand => ({ kind: 'imm', value: BigInt(value) });

export class SlotValues {
  /** Operand-stack height. */
  h = 0;
  /** The type of each operand-stack entry below `h`. */
  readonly types: ValType[] = [];

  constructor(
    /** SP-relative offset of operand-stack entry d. */
    readonly slot: (d: number) => number,
    /** SP-relative offset of local l. */
    readonly local: (l: number) => number,
  ) {}

  /** Pushes a value of type `t`; returns the slot it is to be written to. */
  push(t: ValType): number {
    this.types[this.h] = t;
    return this.slot(this.h++);
  }

  /** Pops the top value; returns the slot it is in. */
  pop(): number {
    this.h--;
    return this.slot(this.h);
  }

  /**
   * The slots holding externrefs that must survive a call: operand-stack entries below
   * `liveHeight` and the externref locals in `liveLocals`, ascending.
   */
  liveSlots(liveHeight: number, liveLocals: Iterable<number>): number[] {
    const live: number[] = [];
    for (let d = 0; d < liveHeight; d++) if (this.types[d] === 'externref') live.push(this.slot(d));
    for (const l of liveLocals) live.push(this.local(l));
    return live.sort((a, b) => a - b);
  }
}
