import test from 'ava';
import fc from 'fast-check';
import { createRequire } from 'node:module';
import { assembleLines, toHex } from '../assembler-oracle.ts';
import {
  A64_CONDITIONS,
  Aarch64Assembler,
  EncodeError,
  decodeLogicalImmediate,
  encodeLogicalImmediate,
  invertA64Cond,
  mem,
  memIndex,
  memPost,
  memPre,
  memUnscaled,
  wreg,
  xreg,
  type A64Address,
  type A64Reg,
  type Extend,
  type IndexExtend,
  type LogicalImmediate,
  type Shift,
  type ShiftKind,
  type W,
  type X,
} from './encoder.ts';
import { EncodeError as X64EncodeError } from '../x64/encoder.ts';

interface Case {
  asm: string;
  emit: (a: Aarch64Assembler) => void;
}

type A = Aarch64Assembler;
const reg = (num: number, sf: 0 | 1, reg31: 'sp' | 'zr' = 'zr'): A64Reg =>
  sf ? xreg(num, reg31 === 'sp' ? 'sp' : 'xzr') : wreg(num, reg31 === 'sp' ? 'wsp' : 'wzr');
const shiftText = (s?: Shift): string => (s ? `, ${s.kind} #${s.amount}` : '');
const CONDS = A64_CONDITIONS;

function encode(emit: (a: A) => void): Uint8Array {
  const a = new Aarch64Assembler();
  emit(a);
  return a.finish().code;
}

function mismatches(cases: readonly Case[]): string[] {
  const oracle = assembleLines('aarch64', cases.map((c) => c.asm));
  const bad: string[] = [];
  cases.forEach((c, i) => {
    let ours: string;
    try {
      ours = toHex(encode(c.emit));
    } catch (e) {
      ours = `threw ${(e as Error).message}`;
    }
    const theirs = toHex(oracle[i].bytes);
    if (ours !== theirs) bad.push(`${c.asm}: ours ${ours}, GNU as ${theirs}`);
  });
  return bad;
}

// ------------------------------------------------------------------------------------------------
// Systematic cases
// ------------------------------------------------------------------------------------------------

const SAMPLE_REGS = [0, 1, 7, 15, 16, 29, 30, 31];

function arithmeticCases(): Case[] {
  const cases: Case[] = [];
  for (const sf of [0, 1] as const) {
    for (const d of SAMPLE_REGS) {
      for (const n of SAMPLE_REGS) {
        const rdSp = reg(d, sf, 'sp');
        const rnSp = reg(n, sf, 'sp');
        const rdZr = reg(d, sf);
        const rnZr = reg(n, sf);
        const rm = reg((d + n + 3) % 32, sf);
        for (const imm of [0, 1, 4095, 0x1000, 0xfff000]) {
          cases.push({ asm: `add ${rdSp}, ${rnSp}, #${imm}`, emit: (a) => a.addImm(rdSp, rnSp, imm) });
          cases.push({ asm: `subs ${rdZr}, ${rnSp}, #${imm}`, emit: (a) => a.subsImm(rdZr, rnSp, imm) });
        }
        cases.push({ asm: `sub ${rdSp}, ${rnSp}, #17`, emit: (a) => a.subImm(rdSp, rnSp, 17) });
        cases.push({ asm: `adds ${rdZr}, ${rnSp}, #0x5000`, emit: (a) => a.addsImm(rdZr, rnSp, 0x5000) });
        cases.push({ asm: `cmp ${rnSp}, #9`, emit: (a) => a.cmpImm(rnSp, 9) });
        cases.push({ asm: `cmn ${rnSp}, #9`, emit: (a) => a.cmnImm(rnSp, 9) });
        const shifts: (Shift | undefined)[] = [undefined, { kind: 'lsl', amount: 3 }, { kind: 'lsr', amount: sf ? 63 : 31 }, { kind: 'asr', amount: 1 }];
        for (const [op, method] of [['add', 'add'], ['sub', 'sub'], ['adds', 'adds'], ['subs', 'subs']] as const) {
          const s = shifts[(d + n) % 4];
          cases.push({ asm: `${op} ${rdZr}, ${rnZr}, ${rm}${shiftText(s)}`, emit: (a) => a[method](rdZr, rnZr, rm, s) });
        }
        cases.push({ asm: `cmp ${rnZr}, ${rm}, lsl #2`, emit: (a) => a.cmp(rnZr, rm, { kind: 'lsl', amount: 2 }) });
        cases.push({ asm: `cmn ${rnZr}, ${rm}`, emit: (a) => a.cmn(rnZr, rm) });
        cases.push({ asm: `neg ${rdZr}, ${rm}, asr #5`, emit: (a) => a.neg(rdZr, rm, { kind: 'asr', amount: 5 }) });
        // sp operands turn the register form into the extended form.
        if (d === 31 || n === 31) {
          cases.push({ asm: `add ${rdSp}, ${rnSp}, ${rm}`, emit: (a) => a.add(rdSp, rnSp, rm) });
          cases.push({ asm: `sub ${rdSp}, ${rnSp}, ${rm}, lsl #2`, emit: (a) => a.sub(rdSp, rnSp, rm, { kind: 'lsl', amount: 2 }) });
          cases.push({ asm: `cmp ${rnSp}, ${rm}`, emit: (a) => a.cmp(rnSp, rm) });
          cases.push({ asm: `mov ${rdSp}, ${rnSp}`, emit: (a) => a.mov(rdSp, rnSp) });
        } else {
          cases.push({ asm: `mov ${rdZr}, ${rm}`, emit: (a) => a.mov(rdZr, rm) });
        }
        const extends_: Extend[] = ['uxtb', 'uxth', 'uxtw', 'uxtx', 'sxtb', 'sxth', 'sxtw', 'sxtx'];
        const ext = extends_[(d * 7 + n) % 8];
        const rmExt = reg((d + n + 3) % 31, sf && (ext === 'uxtx' || ext === 'sxtx') ? 1 : 0);
        const amount = (d + n) % 5;
        cases.push({ asm: `add ${rdSp}, ${rnSp}, ${rmExt}, ${ext} #${amount}`, emit: (a) => a.addExt(rdSp, rnSp, rmExt, ext, amount) });
        cases.push({ asm: `subs ${rdZr}, ${rnSp}, ${rmExt}, ${ext}`, emit: (a) => a.subsExt(rdZr, rnSp, rmExt, ext) });
      }
    }
  }
  return cases;
}

function logicalAndShiftCases(): Case[] {
  const cases: Case[] = [];
  const ops = ['and', 'bic', 'orr', 'orn', 'eor', 'eon', 'ands', 'bics'] as const;
  const kinds: ShiftKind[] = ['lsl', 'lsr', 'asr', 'ror'];
  for (const sf of [0, 1] as const) {
    const w = sf ? 64 : 32;
    for (const d of SAMPLE_REGS) {
      for (const n of SAMPLE_REGS) {
        const rd = reg(d, sf);
        const rn = reg(n, sf);
        const rm = reg((d * 5 + n) % 32, sf);
        const ra = reg((d + 2 * n) % 32, sf);
        const op = ops[(d + n) % 8];
        const s: Shift = { kind: kinds[(d + n) % 4], amount: (d * n) % w };
        cases.push({ asm: `${op} ${rd}, ${rn}, ${rm}${shiftText(s)}`, emit: (a) => a[op](rd, rn, rm, s) });
        cases.push({ asm: `${op} ${rd}, ${rn}, ${rm}`, emit: (a) => a[op](rd, rn, rm) });
        cases.push({ asm: `tst ${rn}, ${rm}, ror #3`, emit: (a) => a.tst(rn, rm, { kind: 'ror', amount: 3 }) });
        cases.push({ asm: `mvn ${rd}, ${rm}`, emit: (a) => a.mvn(rd, rm) });
        for (const name of ['lsl', 'lsr', 'asr', 'ror', 'sdiv', 'udiv', 'mul'] as const) {
          cases.push({ asm: `${name} ${rd}, ${rn}, ${rm}`, emit: (a) => a[name](rd, rn, rm) });
        }
        cases.push({ asm: `madd ${rd}, ${rn}, ${rm}, ${ra}`, emit: (a) => a.madd(rd, rn, rm, ra) });
        cases.push({ asm: `msub ${rd}, ${rn}, ${rm}, ${ra}`, emit: (a) => a.msub(rd, rn, rm, ra) });
        if (sf) {
          const [xd, xn, xm] = [rd, rn, rm] as X[];
          cases.push({ asm: `smulh ${xd}, ${xn}, ${xm}`, emit: (a) => a.smulh(xd, xn, xm) });
          cases.push({ asm: `umulh ${xd}, ${xn}, ${xm}`, emit: (a) => a.umulh(xd, xn, xm) });
          cases.push({ asm: `rev32 ${xd}, ${xn}`, emit: (a) => a.rev32(xd, xn) });
        }
        for (const name of ['clz', 'cls', 'rbit', 'rev', 'rev16'] as const) {
          cases.push({ asm: `${name} ${rd}, ${rn}`, emit: (a) => a[name](rd, rn) });
        }
        const amount = (d * 3 + n) % w;
        cases.push({ asm: `lsl ${rd}, ${rn}, #${amount}`, emit: (a) => a.lslImm(rd, rn, amount) });
        cases.push({ asm: `lsr ${rd}, ${rn}, #${amount}`, emit: (a) => a.lsrImm(rd, rn, amount) });
        cases.push({ asm: `asr ${rd}, ${rn}, #${amount}`, emit: (a) => a.asrImm(rd, rn, amount) });
        cases.push({ asm: `ror ${rd}, ${rn}, #${amount}`, emit: (a) => a.rorImm(rd, rn, amount) });
        cases.push({ asm: `extr ${rd}, ${rn}, ${rm}, #${amount}`, emit: (a) => a.extr(rd, rn, rm, amount) });
        const width = Math.max(1, (w - amount) >> 1);
        cases.push({ asm: `ubfx ${rd}, ${rn}, #${amount}, #${width}`, emit: (a) => a.ubfx(rd, rn, amount, width) });
        cases.push({ asm: `sbfx ${rd}, ${rn}, #${amount}, #${width}`, emit: (a) => a.sbfx(rd, rn, amount, width) });
        cases.push({ asm: `ubfm ${rd}, ${rn}, #${amount}, #${(amount * 7) % w}`, emit: (a) => a.ubfm(rd, rn, amount, (amount * 7) % w) });
        cases.push({ asm: `sbfm ${rd}, ${rn}, #${amount}, #${(amount * 5) % w}`, emit: (a) => a.sbfm(rd, rn, amount, (amount * 5) % w) });
        const wn = reg(n, 0) as W;
        const wd = reg(d, 0) as W;
        cases.push({ asm: `sxtb ${rd}, ${wn}`, emit: (a) => a.sxtb(rd, wn) });
        cases.push({ asm: `sxth ${rd}, ${wn}`, emit: (a) => a.sxth(rd, wn) });
        if (sf) cases.push({ asm: `sxtw ${rd}, ${wn}`, emit: (a) => a.sxtw(rd as X, wn) });
        else {
          cases.push({ asm: `uxtb ${wd}, ${wn}`, emit: (a) => a.uxtb(wd, wn) });
          cases.push({ asm: `uxth ${wd}, ${wn}`, emit: (a) => a.uxth(wd, wn) });
        }
        const cond = CONDS[(d + n) % 16];
        cases.push({ asm: `csel ${rd}, ${rn}, ${rm}, ${cond}`, emit: (a) => a.csel(rd, rn, rm, cond) });
        cases.push({ asm: `csinc ${rd}, ${rn}, ${rm}, ${cond}`, emit: (a) => a.csinc(rd, rn, rm, cond) });
        cases.push({ asm: `csinv ${rd}, ${rn}, ${rm}, ${cond}`, emit: (a) => a.csinv(rd, rn, rm, cond) });
        cases.push({ asm: `csneg ${rd}, ${rn}, ${rm}, ${cond}`, emit: (a) => a.csneg(rd, rn, rm, cond) });
        const nzcv = (d + n) % 16;
        cases.push({ asm: `ccmp ${rn}, ${rm}, #${nzcv}, ${cond}`, emit: (a) => a.ccmp(rn, rm, nzcv, cond) });
        cases.push({ asm: `ccmn ${rn}, ${rm}, #${nzcv}, ${cond}`, emit: (a) => a.ccmn(rn, rm, nzcv, cond) });
        cases.push({ asm: `ccmp ${rn}, #${d % 32}, #${nzcv}, ${cond}`, emit: (a) => a.ccmpImm(rn, d % 32, nzcv, cond) });
        cases.push({ asm: `ccmn ${rn}, #${n % 32}, #${nzcv}, ${cond}`, emit: (a) => a.ccmnImm(rn, n % 32, nzcv, cond) });
        const setCond = CONDS[(d + n) % 14];
        cases.push({ asm: `cset ${rd}, ${setCond}`, emit: (a) => a.cset(rd, setCond) });
        cases.push({ asm: `csetm ${rd}, ${setCond}`, emit: (a) => a.csetm(rd, setCond) });
        const hw = ((d + n) % (w / 16)) * 16;
        const imm16 = (d * 0x1111 + n * 0x0707) & 0xffff;
        cases.push({ asm: `movz ${rd}, #${imm16}, lsl #${hw}`, emit: (a) => a.movz(rd, imm16, hw) });
        cases.push({ asm: `movk ${rd}, #${imm16}, lsl #${hw}`, emit: (a) => a.movk(rd, imm16, hw) });
        cases.push({ asm: `movn ${rd}, #${imm16}, lsl #${hw}`, emit: (a) => a.movn(rd, imm16, hw) });
      }
    }
  }
  for (const n of [0, 5, 16, 30]) {
    const x = xreg(n);
    cases.push({ asm: `br ${x}`, emit: (a) => a.br(x) });
    cases.push({ asm: `blr ${x}`, emit: (a) => a.blr(x) });
    cases.push({ asm: `ret ${x}`, emit: (a) => a.ret(x) });
  }
  cases.push(
    { asm: 'ret', emit: (a) => a.ret() },
    { asm: 'nop', emit: (a) => a.nop() },
    { asm: 'brk #0', emit: (a) => a.brk(0) },
    { asm: 'brk #0xf000', emit: (a) => a.brk(0xf000) },
    { asm: 'svc #0', emit: (a) => a.svc(0) },
    { asm: 'udf #0', emit: (a) => a.udf() },
    { asm: 'udf #0xbeef', emit: (a) => a.udf(0xbeef) },
  );
  return cases;
}

// ------------------------------------------------------------------------------------------------
// Loads and stores (property-style, fixed seed)
// ------------------------------------------------------------------------------------------------

type LoadStoreName = 'ldr' | 'str' | 'ldrb' | 'ldrh' | 'ldrsb' | 'ldrsh' | 'ldrsw' | 'strb' | 'strh';
const LOAD_STORES: { name: LoadStoreName; unscaled: string; size: number; rt: 'x' | 'w' | 'either' }[] = [
  { name: 'ldr', unscaled: 'ldur', size: 8, rt: 'x' },
  { name: 'ldr', unscaled: 'ldur', size: 4, rt: 'w' },
  { name: 'str', unscaled: 'stur', size: 8, rt: 'x' },
  { name: 'str', unscaled: 'stur', size: 4, rt: 'w' },
  { name: 'ldrb', unscaled: 'ldurb', size: 1, rt: 'w' },
  { name: 'ldrh', unscaled: 'ldurh', size: 2, rt: 'w' },
  { name: 'strb', unscaled: 'sturb', size: 1, rt: 'w' },
  { name: 'strh', unscaled: 'sturh', size: 2, rt: 'w' },
  { name: 'ldrsb', unscaled: 'ldursb', size: 1, rt: 'either' },
  { name: 'ldrsh', unscaled: 'ldursh', size: 2, rt: 'either' },
  { name: 'ldrsw', unscaled: 'ldursw', size: 4, rt: 'x' },
];

function addrText(addr: A64Address, size: number): string {
  switch (addr.kind) {
    case 'offset':
    case 'unscaled':
      return addr.offset === 0 && addr.kind === 'offset' ? `[${addr.base}]` : `[${addr.base}, #${addr.offset}]`;
    case 'pre':
      return `[${addr.base}, #${addr.offset}]!`;
    case 'post':
      return `[${addr.base}], #${addr.offset}`;
    case 'index': {
      const amount = addr.shift ? ` #${Math.log2(size)}` : '';
      const ext = addr.extend === 'lsl' ? (addr.shift ? `, lsl${amount}` : '') : `, ${addr.extend}${amount}`;
      return `[${addr.base}, ${addr.index}${ext}]`;
    }
  }
}

const baseArb = fc.integer({ min: 0, max: 31 }).map((n) => xreg(n, 'sp'));

function addressArb(size: number): fc.Arbitrary<A64Address> {
  return fc.oneof(
    fc.tuple(baseArb, fc.integer({ min: 0, max: 4095 })).map(([b, i]) => mem(b, i * size)),
    fc.tuple(baseArb, fc.integer({ min: -256, max: 255 })).map(([b, o]) => mem(b, o)),
    fc.tuple(baseArb, fc.integer({ min: -256, max: 255 })).map(([b, o]) => memUnscaled(b, o)),
    fc.tuple(baseArb, fc.integer({ min: -256, max: 255 })).map(([b, o]) => memPre(b, o)),
    fc.tuple(baseArb, fc.integer({ min: -256, max: 255 })).map(([b, o]) => memPost(b, o)),
    fc.tuple(baseArb, fc.integer({ min: 0, max: 31 }), fc.constantFrom<IndexExtend>('lsl', 'uxtw', 'sxtw', 'sxtx'), fc.boolean()).map(
      ([b, i, ext, shift]) => memIndex(b, ext === 'lsl' || ext === 'sxtx' ? xreg(i) : wreg(i), ext, shift),
    ),
  );
}

function loadStoreCaseArb(): fc.Arbitrary<Case> {
  return fc.constantFrom(...LOAD_STORES).chain((shape) =>
    fc.tuple(fc.integer({ min: 0, max: 31 }), fc.boolean(), addressArb(shape.size)).map(([t, wide, addr]): Case => {
      const sf = shape.rt === 'x' ? 1 : shape.rt === 'w' ? 0 : wide ? 1 : 0;
      let rtNum = t;
      // Writeback into the transfer register is refused by the encoder; pick another register.
      if ((addr.kind === 'pre' || addr.kind === 'post') && addr.base === xreg(t)) rtNum = (t + 1) % 31;
      const rt = reg(rtNum, sf as 0 | 1);
      const mnemonic = addr.kind === 'unscaled' ? shape.unscaled : shape.name;
      return {
        asm: `${mnemonic} ${rt}, ${addrText(addr, shape.size)}`,
        emit: (a) => (a[shape.name] as (rt: A64Reg, addr: A64Address) => void)(rt, addr),
      };
    }),
  );
}

function pairCaseArb(): fc.Arbitrary<Case> {
  return fc
    .tuple(
      fc.constantFrom('ldp', 'stp'),
      fc.constantFrom<0 | 1>(0, 1),
      fc.integer({ min: 0, max: 30 }),
      fc.integer({ min: 0, max: 30 }),
      baseArb,
      fc.integer({ min: -64, max: 63 }),
      fc.constantFrom(mem, memPre, memPost),
    )
    .filter(([op, , t1, t2, base, , mode]) => (op === 'stp' || t1 !== t2) && (mode === mem || (base !== xreg(t1) && base !== xreg(t2))))
    .map(([op, sf, t1, t2, base, k, mode]): Case => {
      const addr = mode(base, k * (sf ? 8 : 4));
      const [r1, r2] = [reg(t1, sf), reg(t2, sf)];
      return { asm: `${op} ${r1}, ${r2}, ${addrText(addr, 0)}`, emit: (a) => (op === 'ldp' ? a.ldp(r1, r2, addr) : a.stp(r1, r2, addr)) };
    });
}

function registerCaseArb(): fc.Arbitrary<Case> {
  const sfArb = fc.constantFrom<0 | 1>(0, 1);
  const n = fc.integer({ min: 0, max: 31 });
  return fc.oneof(
    fc.tuple(sfArb, n, n, fc.integer({ min: 0, max: 4095 }), fc.boolean(), fc.constantFrom('add', 'sub', 'adds', 'subs')).map(
      ([sf, d, s, imm, hi, op]): Case => {
        const rd = reg(d, sf, op === 'add' || op === 'sub' ? 'sp' : 'zr');
        const rn = reg(s, sf, 'sp');
        const value = hi ? imm << 12 : imm;
        const method = `${op}Imm` as 'addImm' | 'subImm' | 'addsImm' | 'subsImm';
        return { asm: `${op} ${rd}, ${rn}, #${value}`, emit: (a) => a[method](rd, rn, value) };
      },
    ),
    fc.tuple(sfArb, n, n, n, fc.integer({ min: 0, max: 63 }), fc.constantFrom<ShiftKind>('lsl', 'lsr', 'asr', 'ror'), fc.constantFrom('and', 'orr', 'eor', 'ands', 'bic', 'orn', 'eon', 'bics', 'add', 'sub', 'adds', 'subs')).map(
      ([sf, d, s, m, amount, kind, op]): Case => {
        const shift: Shift = { kind: kind === 'ror' && ['add', 'sub', 'adds', 'subs'].includes(op) ? 'lsl' : kind, amount: amount % (sf ? 64 : 32) };
        const [rd, rn, rm] = [reg(d, sf), reg(s, sf), reg(m, sf)];
        return { asm: `${op} ${rd}, ${rn}, ${rm}${shiftText(shift)}`, emit: (a) => a[op as 'and'](rd, rn, rm, shift) };
      },
    ),
    fc.tuple(sfArb, n, n, fc.integer({ min: 0, max: 63 }), fc.integer({ min: 0, max: 63 }), fc.boolean()).map(([sf, d, s, immr, imms, signed]): Case => {
      const w = sf ? 64 : 32;
      const [rd, rn] = [reg(d, sf), reg(s, sf)];
      const op = signed ? 'sbfm' : 'ubfm';
      return { asm: `${op} ${rd}, ${rn}, #${immr % w}, #${imms % w}`, emit: (a) => a[op](rd, rn, immr % w, imms % w) };
    }),
  );
}

test('arithmetic, logical, shift, multiply, select and move forms match GNU as', (t) => {
  const cases = [...arithmeticCases(), ...logicalAndShiftCases()];
  t.true(cases.length > 2000);
  t.deepEqual(mismatches(cases), []);
});

test('random loads, stores, pairs and register operands match GNU as (fast-check, one run)', (t) => {
  const cases = [
    ...fc.sample(loadStoreCaseArb(), { seed: 42, numRuns: 1500 }),
    ...fc.sample(pairCaseArb(), { seed: 43, numRuns: 400 }),
    ...fc.sample(registerCaseArb(), { seed: 44, numRuns: 800 }),
  ];
  t.deepEqual(mismatches(cases), []);
});

// ------------------------------------------------------------------------------------------------
// Logical immediates and constants
// ------------------------------------------------------------------------------------------------

function allLogicalFields(width: 32 | 64): LogicalImmediate[] {
  const fields: LogicalImmediate[] = [];
  for (const n of width === 64 ? ([0, 1] as const) : ([0] as const)) {
    for (let imms = 0; imms < 64; imms++) {
      for (let immr = 0; immr < 64; immr++) {
        const f = { n, immr, imms };
        const value = decodeLogicalImmediate(f, width);
        // Keep the canonical encodings only (immr below the element size).
        if (value !== undefined && encodeLogicalImmediate(value, width)?.immr === immr) fields.push(f);
      }
    }
  }
  return fields;
}

test('logical immediates: every canonical encoding round-trips (5334 for 64-bit, 1302 for 32-bit)', (t) => {
  for (const width of [32, 64] as const) {
    const fields = allLogicalFields(width);
    t.is(fields.length, width === 64 ? 5334 : 1302);
    const values = new Set<bigint>();
    for (const f of fields) {
      const value = decodeLogicalImmediate(f, width)!;
      values.add(value);
      t.deepEqual(encodeLogicalImmediate(value, width), f);
    }
    t.is(values.size, fields.length);
  }
  t.is(encodeLogicalImmediate(0n, 64), undefined);
  t.is(encodeLogicalImmediate(-1n, 64), undefined);
  t.is(encodeLogicalImmediate(0xffffffffn, 32), undefined);
  t.is(encodeLogicalImmediate(0x1234n, 64), undefined);
});

test('logical immediates: accepted exactly when GNU as accepts, with the same bytes', (t) => {
  const valid64 = allLogicalFields(64).map((f) => decodeLogicalImmediate(f, 64)!);
  const valid32 = allLogicalFields(32).map((f) => decodeLogicalImmediate(f, 32)!);
  const cases: { asm: string; width: 32 | 64; value: bigint; op: 'and' | 'orr' | 'eor' | 'ands' | 'tst'; rd: A64Reg; rn: A64Reg }[] = [];
  const samples = fc.sample(
    fc.tuple(
      fc.constantFrom<32 | 64>(32, 64),
      fc.oneof(fc.nat({ max: 100000 }).map((i) => ({ pick: i })), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((v) => ({ raw: v }))),
      fc.integer({ min: 0, max: 31 }),
      fc.integer({ min: 0, max: 31 }),
      fc.constantFrom('and', 'orr', 'eor', 'ands', 'tst') as fc.Arbitrary<'and' | 'orr' | 'eor' | 'ands' | 'tst'>,
    ),
    { seed: 99, numRuns: 1500 },
  );
  for (const [width, choice, d, n, op] of samples) {
    const pool = width === 64 ? valid64 : valid32;
    const value = 'pick' in choice ? pool[choice.pick % pool.length] : BigInt.asUintN(width, choice.raw);
    const sf = width === 64 ? 1 : 0;
    const rd = reg(d, sf, op === 'ands' || op === 'tst' ? 'zr' : 'sp');
    const rn = reg(n, sf);
    const asm = op === 'tst' ? `tst ${rn}, #0x${value.toString(16)}` : `${op} ${rd}, ${rn}, #0x${value.toString(16)}`;
    cases.push({ asm, width, value, op, rd, rn });
  }
  const oracle = assembleLines('aarch64', cases.map((c) => c.asm), { tolerateErrors: true });
  const bad: string[] = [];
  let rejected = 0;
  cases.forEach((c, i) => {
    let ours: string;
    try {
      ours = toHex(
        encode((a) => {
          if (c.op === 'tst') a.tstImm(c.rn, c.value);
          else a[`${c.op}Imm`](c.rd, c.rn, c.value);
        }),
      );
    } catch (e) {
      if (!(e instanceof EncodeError) || e.operand !== 'imm') throw e;
      ours = 'rejected';
    }
    const theirs = oracle[i].error ? 'rejected' : toHex(oracle[i].bytes);
    if (theirs === 'rejected') rejected++;
    if (ours !== theirs) bad.push(`${c.asm}: ours ${ours}, GNU as ${theirs}`);
  });
  t.deepEqual(bad, []);
  // Both outcomes must be exercised for the comparison to mean anything.
  t.true(rejected > 300 && rejected < cases.length - 300, `rejected ${rejected} of ${cases.length}`);
});

/** Replays movz/movn/movk/orr-immediate words to find the value they leave in the register. */
function evaluateMoves(code: Uint8Array): bigint {
  const view = new DataView(code.buffer, code.byteOffset, code.byteLength);
  let value = 0n;
  for (let at = 0; at < code.length; at += 4) {
    const word = view.getUint32(at, true);
    const sf = word >>> 31;
    const width = sf ? 64 : 32;
    if (((word >>> 23) & 0x3f) === 0x25) {
      const opc = (word >>> 29) & 3;
      const shift = BigInt(((word >>> 21) & 3) * 16);
      const imm = BigInt((word >>> 5) & 0xffff);
      if (opc === 2) value = imm << shift;
      else if (opc === 0) value = BigInt.asUintN(width, ~(imm << shift));
      else if (opc === 3) value = (value & ~(0xffffn << shift)) | (imm << shift);
      else throw new Error(`unexpected move-wide opc ${opc}`);
    } else if (((word >>> 23) & 0xff) === 0x64 && ((word >>> 5) & 31) === 31) {
      value = decodeLogicalImmediate({ n: ((word >>> 22) & 1) as 0 | 1, immr: (word >>> 16) & 0x3f, imms: (word >>> 10) & 0x3f }, width)!;
    } else {
      throw new Error(`unexpected instruction 0x${word.toString(16)}`);
    }
  }
  return value;
}

test('movImm: one instruction exactly where GNU as `mov` takes one, same bytes, else the fewest movk', (t) => {
  const values = fc.sample(
    fc.tuple(
      fc.constantFrom<0 | 1>(0, 1),
      fc.oneof(
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 3 }), fc.boolean()).map(([c, i, inv]) => {
          const v = BigInt(c) << BigInt(16 * i);
          return inv ? ~v : v;
        }),
        fc
          .array(fc.constantFrom(0n, 0xffffn, 0x1234n), { minLength: 4, maxLength: 4 })
          .map((cs) => cs.reduce((acc: bigint, c: bigint, i: number) => acc | (c << BigInt(16 * i)), 0n)),
      ),
    ),
    { seed: 7, numRuns: 800 },
  ).map(([sf, v]) => ({ sf, value: BigInt.asUintN(sf ? 64 : 32, v) }));
  values.push({ sf: 1, value: 0n }, { sf: 0, value: 0xffffffffn }, { sf: 1, value: (1n << 64n) - 1n }, { sf: 1, value: 0x5555555555555555n });
  const oracle = assembleLines(
    'aarch64',
    values.map(({ sf, value }) => `mov ${sf ? 'x3' : 'w3'}, #0x${value.toString(16)}`),
    { tolerateErrors: true },
  );
  const bad: string[] = [];
  let single = 0;
  values.forEach(({ sf, value }, i) => {
    const rd = sf ? 'x3' : 'w3';
    const a = new Aarch64Assembler();
    const count = a.movImm(rd, value);
    const code = a.finish().code;
    const chunks = [0, 1, 2, 3].slice(0, sf ? 4 : 2).map((k) => (value >> BigInt(16 * k)) & 0xffffn);
    const fewest = Math.max(1, Math.min(chunks.filter((c) => c !== 0n).length, chunks.filter((c) => c !== 0xffffn).length));
    if (evaluateMoves(code) !== value) bad.push(`${rd} 0x${value.toString(16)}: loads 0x${evaluateMoves(code).toString(16)}`);
    if (code.length !== 4 * count) bad.push(`${rd} 0x${value.toString(16)}: returned ${count} for ${code.length} bytes`);
    if (oracle[i].error === undefined) {
      single++;
      if (toHex(code) !== toHex(oracle[i].bytes)) bad.push(`${oracle[i].source}: ours ${toHex(code)}, GNU as ${toHex(oracle[i].bytes)}`);
    } else if (count !== fewest) {
      bad.push(`${rd} 0x${value.toString(16)}: ${count} instructions, expected ${fewest}`);
    }
  });
  t.deepEqual(bad, []);
  t.true(single > 100 && single < values.length - 100, `${single} single-instruction values`);
});

// ------------------------------------------------------------------------------------------------
// Labels, fix-ups, relocations
// ------------------------------------------------------------------------------------------------

test('branches, adr and literal loads to labels match GNU as', (t) => {
  const a = new Aarch64Assembler();
  const top = a.newLabel();
  const bottom = a.newLabel();
  const literal = a.newLabel();
  a.bind(top);
  a.b(bottom);
  a.bl(bottom);
  a.bCond('ne', bottom);
  a.cbz('x3', bottom);
  a.cbnz('w4', bottom);
  a.tbz('x5', 40, bottom);
  a.tbnz('w6', 3, bottom);
  a.adr('x7', literal);
  a.ldrLiteral('x8', literal);
  a.ldrLiteral('w9', literal);
  a.bind(bottom);
  a.bCond('hs', top);
  a.b(top);
  a.cbz('wzr', top);
  a.tbnz('x1', 63, top);
  a.adr('x2', top);
  a.bind(literal);
  a.emit64(0x0123456789abcdefn);
  const oracle = assembleLines('aarch64', [
    '.Ltop:',
    'b .Lbottom',
    'bl .Lbottom',
    'b.ne .Lbottom',
    'cbz x3, .Lbottom',
    'cbnz w4, .Lbottom',
    'tbz x5, #40, .Lbottom',
    'tbnz w6, #3, .Lbottom',
    'adr x7, .Lliteral',
    'ldr x8, .Lliteral',
    'ldr w9, .Lliteral',
    '.Lbottom:',
    'b.hs .Ltop',
    'b .Ltop',
    'cbz wzr, .Ltop',
    'tbnz x1, #63, .Ltop',
    'adr x2, .Ltop',
    '.Lliteral:',
    '.quad 0x0123456789abcdef',
  ]);
  t.is(toHex(a.finish().code), oracle.map((l) => toHex(l.bytes)).join(''));
  t.deepEqual(
    oracle.flatMap((l) => l.relocations),
    [],
  );
});

test('a jump table of label differences matches GNU as', (t) => {
  const a = new Aarch64Assembler();
  const table = a.newLabel();
  const targets = [a.newLabel(), a.newLabel()];
  a.adr('x16', table);
  a.ldrsw('x17', memIndex('x16', 'w0', 'uxtw', true));
  a.add('x16', 'x16', 'x17');
  a.br('x16');
  a.bind(table);
  for (const l of targets) a.emitLabelDelta32(l, table);
  targets.forEach((l, i) => {
    a.bind(l);
    a.movz('w0', i);
    a.ret();
  });
  const oracle = assembleLines('aarch64', [
    'adr x16, .Ltable',
    'ldrsw x17, [x16, w0, uxtw #2]',
    'add x16, x16, x17',
    'br x16',
    '.Ltable:',
    '.word .Lt0 - .Ltable',
    '.word .Lt1 - .Ltable',
    '.Lt0: movz w0, #0',
    'ret',
    '.Lt1: movz w0, #1',
    'ret',
  ]);
  t.is(toHex(a.finish().code), oracle.map((l) => toHex(l.bytes)).join(''));
});

test('relocation requests match the relocations GNU as records', (t) => {
  const a = new Aarch64Assembler();
  const lines: string[] = [];
  const starts: number[] = [];
  const add = (asm: string, emit: () => void): void => {
    starts.push(a.offset);
    lines.push(asm);
    emit();
  };
  add('bl wasm_libcall', () => a.blSymbol('wasm_libcall'));
  add('b tail_target', () => a.bSymbol('tail_target'));
  add('adrp x0, table+8', () => a.adrpSymbol('x0', 'table', 8n));
  add('add x0, x0, :lo12:table+8', () => a.addLo12Symbol('x0', 'x0', 'table', 8n));
  add('adrp x16, counter', () => a.adrpSymbol('x16', 'counter'));
  add('ldr x17, [x16, :lo12:counter]', () => a.ldrLo12Symbol('x17', 'x16', 'counter'));
  add('ldr w17, [x16, :lo12:counter+4]', () => a.ldrLo12Symbol('w17', 'x16', 'counter', 4n));
  add('.quad vmctx_global+16', () => a.quadSymbol('vmctx_global', 16n));
  const oracle = assembleLines('aarch64', lines);
  const ours = a.finish();
  t.is(toHex(ours.code), oracle.map((l) => toHex(l.bytes)).join(''));
  const theirs = oracle.flatMap((l, i) => l.relocations.map((r) => ({ offset: r.offset + starts[i], kind: r.type, symbol: r.symbol, addend: r.addend })));
  t.deepEqual(ours.relocations, theirs);
});

test('branch ranges: the last reachable offset encodes, one step further is an EncodeError (or, backward, an inverted branch around b)', (t) => {
  const limits: { name: string; bytes: number; emit: (a: A, l: ReturnType<A['newLabel']>) => void }[] = [
    { name: 'tbz', bytes: 1 << 15, emit: (a, l) => a.tbz('x0', 1, l) },
    { name: 'b.eq', bytes: 1 << 20, emit: (a, l) => a.bCond('eq', l) },
    { name: 'cbz', bytes: 1 << 20, emit: (a, l) => a.cbz('x0', l) },
    { name: 'ldr', bytes: 1 << 20, emit: (a, l) => a.ldrLiteral('x0', l) },
    { name: 'adr', bytes: 1 << 20, emit: (a, l) => a.adr('x0', l) },
  ];
  for (const { name, bytes, emit } of limits) {
    const step = name === 'adr' ? 1 : 4;
    for (const [distance, ok] of [[bytes - step, true], [bytes, false]] as const) {
      const a = new Aarch64Assembler();
      const l = a.newLabel();
      emit(a, l);
      a.emitBytes(new Uint8Array(distance - 4));
      if (ok) {
        a.bind(l);
        t.is(a.finish().code.length, distance, name);
      } else {
        const e = t.throws(() => a.bind(l), { instanceOf: EncodeError }, name);
        t.is(e?.instruction, name);
        t.is(e?.operand, 'label');
        t.is(e?.offset, 0);
      }
    }
    // Backward references are checked at emission: a conditional branch out of reach becomes
    // the inverted branch over a `b` (±128 MiB); the others cannot and throw.
    const back = new Aarch64Assembler();
    const l = back.newLabel();
    back.bind(l);
    back.emitBytes(new Uint8Array(bytes + 4));
    if (name === 'b.eq' || name === 'cbz') {
      emit(back, l);
      const at = bytes + 4;
      t.is(back.read32(at), name === 'b.eq' ? 0x54000041 : 0xb5000040, `${name} backward: b.ne / cbnz x0 over the b`);
      t.is(back.read32(at + 4), (0x14000000 | ((-(at + 4) / 4) & 0x3ffffff)) >>> 0, `${name} backward: b to the label`);
    } else {
      t.throws(() => emit(back, l), { instanceOf: EncodeError }, `${name} backward`);
    }
  }
  // b/bl reach ±128 MiB: check the field arithmetic at the edge without allocating 128 MiB twice.
  const a = new Aarch64Assembler();
  const far = a.newLabel();
  a.b(far);
  a.emitBytes(new Uint8Array(0x400000 - 4));
  a.bind(far);
  t.is(a.read32(0), 0x14000000 | (0x400000 / 4));
});

test('labels: unbound at finish, double bind and foreign labels are EncodeErrors', (t) => {
  const a = new Aarch64Assembler();
  const never = a.newLabel();
  a.cbz('x0', never);
  const e = t.throws(() => a.finish(), { instanceOf: EncodeError });
  t.is(e?.instruction, 'cbz');
  const b = new Aarch64Assembler();
  const l = b.newLabel();
  b.bind(l);
  t.throws(() => b.bind(l), { instanceOf: EncodeError });
  t.throws(() => b.b(a.newLabel()), { instanceOf: EncodeError });
  b.emit8(0);
  t.throws(() => b.b(l), { instanceOf: EncodeError, message: /aligned/ });
  // One EncodeError class for both architectures.
  t.is(EncodeError, X64EncodeError);
});

test('unencodable operands throw EncodeError naming instruction and operand', (t) => {
  const expectError = (emit: (a: A) => void, instruction: string, operand: string): void => {
    const e = t.throws(() => emit(new Aarch64Assembler()), { instanceOf: EncodeError }, `${instruction} ${operand}`);
    t.is(e?.instruction, instruction);
    t.is(e?.operand, operand);
  };
  expectError((a) => a.addImm('x0', 'x1', 4096 + 1), 'add', 'imm');
  expectError((a) => a.addImm('x0', 'x1', -1), 'add', 'imm');
  expectError((a) => a.addImm('x0', 'xzr', 1), 'add', 'rn');
  expectError((a) => a.addsImm('sp', 'x1', 1), 'adds', 'rd');
  expectError((a) => a.add('x0', 'x1', 'sp'), 'add', 'rm');
  expectError((a) => a.add('x0', 'x1', 'w2'), 'add', 'rm');
  expectError((a) => a.add('x0', 'sp', 'x2', { kind: 'lsl', amount: 5 }), 'add', 'amount');
  expectError((a) => a.add('x0', 'x1', 'x2', { kind: 'ror', amount: 1 }), 'add', 'shift');
  expectError((a) => a.and('w0', 'w1', 'w2', { kind: 'lsl', amount: 32 }), 'and', 'shift');
  expectError((a) => a.andImm('x0', 'x1', 0x1234n), 'and', 'imm');
  expectError((a) => a.orrImm('w0', 'w1', 1n << 32n), 'orr', 'imm');
  expectError((a) => a.andsImm('sp', 'x1', 0xffn), 'ands', 'rd');
  expectError((a) => a.lslImm('w0', 'w1', 32), 'lsl', 'amount');
  expectError((a) => a.ubfx('x0', 'x1', 60, 5), 'ubfx', 'width');
  expectError((a) => a.movz('w0', 1, 32), 'movz', 'shift');
  expectError((a) => a.movz('x0', 0x10000), 'movz', 'imm');
  expectError((a) => a.movImm('sp', 1n), 'mov', 'rd');
  expectError((a) => a.movImm('w0', 1n << 32n), 'mov', 'imm');
  expectError((a) => a.cset('x0', 'al'), 'cset', 'cond');
  expectError((a) => a.ldr('x0', mem('x1', 257)), 'ldr', 'addr.offset');
  expectError((a) => a.ldr('x0', mem('x1', 8 * 4096)), 'ldr', 'addr.offset');
  expectError((a) => a.ldr('x0', mem('w1' as X, 8)), 'ldr', 'addr.base');
  expectError((a) => a.ldr('x0', mem('xzr', 8)), 'ldr', 'addr.base');
  expectError((a) => a.ldr('sp', mem('x1', 8)), 'ldr', 'rt');
  expectError((a) => a.ldrb('x0' as W, mem('x1')), 'ldrb', 'rt');
  expectError((a) => a.ldrsw('w0' as X, mem('x1')), 'ldrsw', 'rt');
  expectError((a) => a.ldr('x0', memPre('x0', 8)), 'ldr', 'addr.base');
  expectError((a) => a.ldr('x0', memPost('x1', 256)), 'ldr', 'addr.offset');
  expectError((a) => a.ldr('x0', memUnscaled('x1', -257)), 'ldur', 'addr.offset');
  expectError((a) => a.ldr('x0', memIndex('x1', 'x2', 'uxtw')), 'ldr', 'addr.index');
  expectError((a) => a.ldr('x0', memIndex('x1', 'sp')), 'ldr', 'addr.index');
  expectError((a) => a.ldp('x0', 'x0', mem('x1')), 'ldp', 'rt2');
  expectError((a) => a.ldp('x0', 'x1', mem('x2', 12)), 'ldp', 'addr.offset');
  expectError((a) => a.stp('x0', 'x1', memPre('x1', 16)), 'stp', 'addr.base');
  expectError((a) => a.stp('x0', 'x1', memIndex('x2', 'x3')), 'stp', 'addr');
  expectError((a) => a.tbz('w0', 32, a.newLabel()), 'tbz', 'bit');
  expectError((a) => a.br('sp' as X), 'br', 'rn');
  expectError((a) => a.brk(0x10000), 'brk', 'imm');
  expectError((a) => a.ccmpImm('x0', 32, 0, 'eq'), 'ccmp', 'imm');
  expectError((a) => a.ccmp('x0', 'x1', 16, 'eq'), 'ccmp', 'nzcv');
  expectError((a) => a.smulh('w0' as X, 'x1', 'x2'), 'smulh', 'rd');
  expectError((a) => a.sxtw('x0', 'x1' as W), 'sxtw', 'rn');
  expectError((a) => a.mov('x0', 'q0' as X), 'mov', 'rn');
});

test('condition helpers', (t) => {
  t.deepEqual(
    A64_CONDITIONS.slice(0, 14).map((c) => invertA64Cond(c)),
    ['ne', 'eq', 'lo', 'hs', 'pl', 'mi', 'vc', 'vs', 'ls', 'hi', 'lt', 'ge', 'le', 'gt'],
  );
  t.is(invertA64Cond('cs'), 'lo');
  t.throws(() => invertA64Cond('al'), { instanceOf: EncodeError });
  const a = new Aarch64Assembler();
  const here = a.newLabel();
  a.bind(here);
  a.bCond('cc', here);
  t.is(toHex(a.finish().code), '03000054');
});

// ------------------------------------------------------------------------------------------------
// Capstone
// ------------------------------------------------------------------------------------------------

type CapstoneInsn = { address: number | bigint; size: number; mnemonic: string; op_str: string };
type CapstoneModule = {
  Capstone: new (arch: number, mode: number) => { disasm(code: ArrayLike<number>, address: number): CapstoneInsn[]; close(): void };
  ARCH_ARM64: number;
  MODE_ARM: number;
};
const require = createRequire(import.meta.url);
const capstone: Promise<CapstoneModule> = (require('@alexaltea/capstone-js') as () => Promise<CapstoneModule>)();

test('Capstone decodes every emitted word, and reads adrp/movImm/mov-sp as intended', async (t) => {
  const cs = await capstone;
  const d = new cs.Capstone(cs.ARCH_ARM64, cs.MODE_ARM);
  try {
    const a = new Aarch64Assembler();
    const cases = [...arithmeticCases(), ...logicalAndShiftCases()];
    for (const c of cases) c.emit(a);
    const code = a.finish().code;
    t.is(d.disasm(Array.from(code), 0).length, code.length / 4);

    const b = new Aarch64Assembler();
    b.adrp('x1', -3);
    b.mov('sp', 'x29');
    b.mov('x29', 'sp');
    b.movImm('x2', 0x1234_0000_5678n);
    const text = d.disasm(Array.from(b.finish().code), 0x10000).map((i) => `${i.mnemonic} ${i.op_str}`);
    t.deepEqual(text, ['adrp x1, #0xd000', 'mov sp, x29', 'mov x29, sp', 'mov x2, #0x5678', 'movk x2, #0x1234, lsl #32']);
  } finally {
    d.close();
  }
});

test('exclusive load-acquire / store-release (ldaxr, stlxr) match GNU as; overlapping registers are refused', (t) => {
  const cases: Case[] = [];
  for (const sf of [0, 1] as const) {
    for (const rt of [0, 16, 30, 31]) {
      for (const rn of [1, 17, 31]) {
        const target = reg(rt, sf);
        const base = xreg(rn, 'sp');
        cases.push({ asm: `ldaxr ${target}, [${base}]`, emit: (a) => a.ldaxr(target, base) });
        for (const rs of [2, 17, 31]) {
          if (rs === rt && rs !== 31) continue;
          if (rs === rn && rn !== 31) continue;
          const status = wreg(rs, 'wzr');
          cases.push({ asm: `stlxr ${status}, ${target}, [${base}]`, emit: (a) => a.stlxr(status, target, base) });
        }
      }
    }
  }
  t.true(cases.length > 50);
  t.deepEqual(mismatches(cases), []);
  const a = new Aarch64Assembler();
  t.throws(() => a.stlxr('w3', 'x3', 'x4'), { instanceOf: EncodeError });
  t.throws(() => a.stlxr('w4', 'x3', 'x4'), { instanceOf: EncodeError });
  t.throws(() => a.stlxr('x4' as never, 'x3', 'x5'), { instanceOf: EncodeError });
  t.throws(() => a.ldaxr('x3', 'w4' as never), { instanceOf: EncodeError });
});
