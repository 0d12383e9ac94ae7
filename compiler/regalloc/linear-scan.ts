/**
 * Linear-scan register allocation (Poletto & Sarkar, "Linear Scan Register Allocation", 1999):
 * each virtual register has one live interval [start, end] over instruction positions; the
 * intervals are visited by increasing start, an active list holds those that own a register,
 * and when no register is free the cheapest interval (fewest definitions and uses, weighted by
 * loop depth; among equals the one that ends last, Poletto & Sarkar's choice) is spilled, to a
 * stack slot for its whole life. Intervals are not split, so a value has one location everywhere and control-flow
 * joins need no resolution moves.
 *
 * Calls constrain the choice (`crossesCall`): a non-reference value live across a call gets a
 * callee-saved register or a slot; a reference live across a call may take any register but
 * also gets a home slot, to which the lowering spills it before every call it survives and from
 * which it reloads it after, so that the stack map names the slot and no reference is only in a
 * register during the call (the collector sees, and could update, every live reference).
 * Stack slots are themselves handed out by a linear scan over the same intervals, so values
 * whose lives do not overlap share a slot.
 */

export interface LiveInterval {
  readonly vreg: number;
  /** First and last position at which the value must be in its location (inclusive). */
  readonly start: number;
  readonly end: number;
  /** A reference the stack maps must see. */
  readonly isRef: boolean;
  /** Live across at least one call. */
  readonly crossesCall: boolean;
  /** A value it is copied from or to: its register is preferred when free (the copy vanishes). */
  readonly hint?: number;
  /** An f32/f64 value: it takes a register of the float class (`floatRegs`), else a slot. */
  readonly isFloat?: boolean;
  /**
   * What keeping the value in a slot would cost: its definitions and uses, each weighted by
   * 8^(loops around it). When no register is free the cheapest of the candidates is spilled
   * (the one that ends last among equals); absent: 0.
   */
  readonly weight?: number;
  /** It may take the return register (`RegisterSet.returnRegister`), which it prefers. */
  readonly returnRegister?: boolean;
}

export interface RegisterSet {
  readonly callerSaved: readonly string[];
  readonly calleeSaved: readonly string[];
  /**
   * The return register (x64 rax, AArch64 x0): given only to intervals marked `returnRegister`
   * (a call's result read by the next instruction, a value computed to be returned), which take
   * it first.
   */
  readonly returnRegister?: string;
}

export interface Allocation {
  /** Register of each virtual register that got one. */
  readonly register: ReadonlyMap<number, string>;
  /** Stack slot index of each spilled virtual register, and the home slot of each reference
   * that is in a register and crosses a call. */
  readonly slot: ReadonlyMap<number, number>;
  /** Number of stack slots used. */
  readonly slotCount: number;
  /** Callee-saved registers assigned to some value (the prologue saves them). */
  readonly usedCalleeSaved: readonly string[];
  /** Callee-saved float registers assigned to some value. */
  readonly usedFloatCalleeSaved: readonly string[];
}

const NO_REGISTERS: RegisterSet = { callerSaved: [], calleeSaved: [] };

/**
 * Allocates each class of intervals from its own registers (integer and reference values from
 * `regs`, floats from `floatRegs`; none given: floats are spilled), then hands out the stack
 * slots of both classes together.
 */
export function linearScan(intervals: readonly LiveInterval[], regs: RegisterSet, floatRegs: RegisterSet = NO_REGISTERS): Allocation {
  const order = [...intervals].sort((a, b) => a.start - b.start || a.vreg - b.vreg);
  const register = new Map<number, string>();
  const spilled = new Set<number>();
  scanClass(order.filter((iv) => !iv.isFloat), regs, register, spilled);
  scanClass(order.filter((iv) => iv.isFloat === true), floatRegs, register, spilled);
  const { slot, slotCount } = assignSlots(order, spilled);
  const used = new Set(register.values());
  return {
    register, slot, slotCount,
    usedCalleeSaved: regs.calleeSaved.filter((r) => used.has(r)),
    usedFloatCalleeSaved: floatRegs.calleeSaved.filter((r) => used.has(r)),
  };
}

/** The register scan over one class's intervals (sorted by start): fills `register` and `spilled`. */
function scanClass(order: readonly LiveInterval[], regs: RegisterSet, register: Map<number, string>, spilled: Set<number>): void {
  const calleeSaved = new Set(regs.calleeSaved);
  const ret = regs.returnRegister;
  const free = new Set([...regs.callerSaved, ...regs.calleeSaved, ...(ret === undefined ? [] : [ret])]);
  /** Intervals holding a register, by increasing end. */
  const active: LiveInterval[] = [];
  const allowed = (iv: LiveInterval, r: string): boolean => (r === ret ? iv.returnRegister === true : !iv.crossesCall || iv.isRef || calleeSaved.has(r));
  const insertActive = (iv: LiveInterval): void => {
    let k = active.length;
    while (k > 0 && active[k - 1].end > iv.end) k--;
    active.splice(k, 0, iv);
  };

  for (const iv of order) {
    while (active.length > 0 && active[0].end < iv.start) free.add(register.get(active.shift()!.vreg)!);
    // Caller-saved registers first: a callee-saved one costs a save and a restore.
    let chosen: string | undefined = ret !== undefined && iv.returnRegister && free.has(ret) ? ret : undefined;
    const hinted = iv.hint === undefined ? undefined : register.get(iv.hint);
    if (chosen === undefined && hinted !== undefined && free.has(hinted) && allowed(iv, hinted)) chosen = hinted;
    if (chosen === undefined) for (const r of regs.callerSaved) if (free.has(r) && allowed(iv, r)) { chosen = r; break; }
    if (chosen === undefined) for (const r of regs.calleeSaved) if (free.has(r) && allowed(iv, r)) { chosen = r; break; }
    if (chosen !== undefined) {
      free.delete(chosen);
      register.set(iv.vreg, chosen);
      insertActive(iv);
      continue;
    }
    // No register: spill the cheapest of this interval and the active ones it could take a
    // register from (by weight, then the one that lives longest).
    let victim: LiveInterval | undefined;
    for (let k = active.length - 1; k >= 0; k--) {
      const a = active[k];
      if (!allowed(iv, register.get(a.vreg)!)) continue;
      if (victim === undefined || (a.weight ?? 0) < (victim.weight ?? 0)) victim = a;
    }
    const cheaper = (a: LiveInterval, b: LiveInterval): boolean => (a.weight ?? 0) < (b.weight ?? 0) || ((a.weight ?? 0) === (b.weight ?? 0) && a.end > b.end);
    if (victim !== undefined && cheaper(victim, iv)) {
      const r = register.get(victim.vreg)!;
      register.delete(victim.vreg);
      active.splice(active.indexOf(victim), 1);
      spilled.add(victim.vreg);
      register.set(iv.vreg, r);
      insertActive(iv);
    } else {
      spilled.add(iv.vreg);
    }
  }
}

/** Stack slots: spilled values, and home slots of references kept in registers across calls. */
function assignSlots(order: readonly LiveInterval[], spilled: ReadonlySet<number>): { slot: Map<number, number>; slotCount: number } {
  const slot = new Map<number, number>();
  const freeSlots: number[] = [];
  const holding: LiveInterval[] = [];
  let slotCount = 0;
  for (const iv of order) {
    if (!spilled.has(iv.vreg) && !(iv.isRef && iv.crossesCall)) continue;
    holding.sort((a, b) => a.end - b.end);
    while (holding.length > 0 && holding[0].end < iv.start) freeSlots.push(slot.get(holding.shift()!.vreg)!);
    freeSlots.sort((a, b) => a - b);
    const s = freeSlots.length > 0 ? freeSlots.shift()! : slotCount++;
    slot.set(iv.vreg, s);
    holding.push(iv);
  }
  return { slot, slotCount };
}
