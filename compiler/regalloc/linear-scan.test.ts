/**
 * The linear-scan allocator on hand-made intervals: registers are reused once an interval
 * ends, values live across calls get callee-saved registers (non-references) or home slots
 * (references), the cheapest interval (by weight, then the one that ends last) is the one spilled, and stack slots are shared by
 * intervals that do not overlap. A property test checks that no two overlapping intervals
 * ever share a register or a slot.
 */
import test from 'ava';
import fc from 'fast-check';
import { linearScan, type LiveInterval } from './linear-scan.ts';

const iv = (vreg: number, start: number, end: number, extra: Partial<LiveInterval> = {}): LiveInterval => ({
  vreg, start, end, isRef: false, crossesCall: false, ...extra,
});
const REGS = { callerSaved: ['c0', 'c1'], calleeSaved: ['s0', 's1'] };

test('registers are reused after an interval ends; an end and a start at the same position conflict', (t) => {
  const a = linearScan([iv(0, 0, 5), iv(1, 6, 9), iv(2, 5, 7)], { callerSaved: ['c0', 'c1'], calleeSaved: [] });
  t.is(a.register.get(0), 'c0');
  t.is(a.register.get(2), 'c1', 'v2 starts where v0 ends: they overlap at 5');
  t.is(a.register.get(1), 'c0', 'v1 starts after v0 ended');
  t.is(a.slotCount, 0);
  t.deepEqual(a.usedCalleeSaved, []);
});

test('a non-reference live across a call gets a callee-saved register, else a slot', (t) => {
  const a = linearScan([iv(0, 0, 9, { crossesCall: true }), iv(1, 1, 9, { crossesCall: true }), iv(2, 2, 9, { crossesCall: true }), iv(3, 3, 4)], REGS);
  t.is(a.register.get(0), 's0');
  t.is(a.register.get(1), 's1');
  t.false(a.register.has(2), 'no callee-saved register left');
  t.is(a.slot.get(2), 0);
  t.is(a.register.get(3), 'c0', 'a value that crosses no call takes a caller-saved register');
  t.deepEqual(a.usedCalleeSaved, ['s0', 's1']);
});

test('a reference live across a call may take a caller-saved register and gets a home slot', (t) => {
  const a = linearScan([iv(0, 0, 9, { isRef: true, crossesCall: true }), iv(1, 0, 9, { isRef: true })], REGS);
  t.is(a.register.get(0), 'c0');
  t.is(a.slot.get(0), 0, 'home slot for the spill around calls');
  t.is(a.register.get(1), 'c1');
  t.false(a.slot.has(1), 'a reference that crosses no call needs no slot');
});

test('when registers run out, the interval that ends last is spilled', (t) => {
  const regs = { callerSaved: ['c0'], calleeSaved: [] };
  const a = linearScan([iv(0, 0, 100), iv(1, 1, 3)], regs);
  t.is(a.register.get(1), 'c0', 'v1 took the register of v0, which lives longer');
  t.false(a.register.has(0));
  t.is(a.slot.get(0), 0);
  const b = linearScan([iv(0, 0, 3), iv(1, 1, 100)], regs);
  t.is(b.register.get(0), 'c0');
  t.is(b.slot.get(1), 0, 'the new interval lives longest: it is the one spilled');
});

test('when registers run out, the cheapest interval (by weight) is spilled, not the one that ends last', (t) => {
  const regs = { callerSaved: ['c0', 'c1'], calleeSaved: [] };
  // v0 lives longest but is used in a loop (heavy); v1 is used once; v2 arrives with no register free.
  const a = linearScan([iv(0, 0, 100, { weight: 512 }), iv(1, 1, 50, { weight: 2 }), iv(2, 2, 10, { weight: 64 })], regs);
  t.is(a.register.get(0), 'c0', 'the heavy value keeps its register');
  t.false(a.register.has(1), 'the light one is spilled');
  t.is(a.register.get(2), 'c1', 'and v2 takes its register');
  // The new interval itself may be the cheapest.
  const b = linearScan([iv(0, 0, 100, { weight: 512 }), iv(1, 1, 50, { weight: 64 }), iv(2, 2, 10, { weight: 1 })], regs);
  t.false(b.register.has(2));
  t.deepEqual([b.register.get(0), b.register.get(1)], ['c0', 'c1']);
});

test('the return register goes only to intervals marked for it, which take it first', (t) => {
  const regs = { callerSaved: ['c0'], calleeSaved: [], returnRegister: 'ret' };
  const a = linearScan([iv(0, 0, 4), iv(1, 1, 3, { returnRegister: true }), iv(2, 2, 6), iv(3, 5, 8, { returnRegister: true })], regs);
  t.is(a.register.get(0), 'c0');
  t.is(a.register.get(1), 'ret', 'marked: takes the return register');
  t.false(a.register.has(2), 'not marked: no caller-saved register left, and the return register is not for it');
  t.is(a.register.get(3), 'ret', 'free again once v1 ended');
  // A marked interval does not lose it to an unmarked one.
  const b = linearScan([iv(0, 0, 9, { returnRegister: true, weight: 0 }), iv(1, 1, 2, { weight: 100 })], { callerSaved: [], calleeSaved: [], returnRegister: 'ret' });
  t.is(b.register.get(0), 'ret');
  t.false(b.register.has(1));
});

test('spilled values whose lives do not overlap share a slot', (t) => {
  const a = linearScan([iv(0, 0, 4), iv(1, 5, 9)], { callerSaved: [], calleeSaved: [] });
  t.is(a.slot.get(0), 0);
  t.is(a.slot.get(1), 0);
  t.is(a.slotCount, 1);
});

test('property: overlapping intervals never share a register or a slot; call constraints hold', (t) => {
  const intervalArb = fc.record({ start: fc.nat(60), len: fc.nat(30), isRef: fc.boolean(), crossesCall: fc.boolean() });
  fc.assert(
    fc.property(fc.array(intervalArb, { maxLength: 40 }), (raw) => {
      // Every fifth non-reference interval that crosses no call may take the return register.
      const ivs = raw.map((r, k) => iv(k, r.start, r.start + r.len, { isRef: r.isRef, crossesCall: r.crossesCall, returnRegister: k % 5 === 0 && !r.isRef && !r.crossesCall }));
      const a = linearScan(ivs, { ...REGS, returnRegister: 'ret' });
      const overlap = (x: LiveInterval, y: LiveInterval): boolean => x.start <= y.end && y.start <= x.end;
      for (const x of ivs) {
        const r = a.register.get(x.vreg);
        if (r === undefined && !a.slot.has(x.vreg)) return false;
        if (r === 'ret' && !x.returnRegister) return false;
        if (x.crossesCall && !x.isRef && r !== undefined && !REGS.calleeSaved.includes(r)) return false;
        if (x.crossesCall && x.isRef && r !== undefined && !a.slot.has(x.vreg)) return false;
        for (const y of ivs) {
          if (x.vreg >= y.vreg || !overlap(x, y)) continue;
          if (r !== undefined && r === a.register.get(y.vreg)) return false;
          if (a.slot.has(x.vreg) && a.slot.get(x.vreg) === a.slot.get(y.vreg)) return false;
        }
      }
      return true;
    }),
    { numRuns: 500, seed: 7 },
  );
  t.pass();
});
