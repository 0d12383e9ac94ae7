import test from 'ava';
import fc from 'fast-check';
import { createRequire } from 'node:module';
import { assembleLines, toHex } from '../assembler-oracle.ts';
import {
  EncodeError,
  X64Assembler,
  X64_CONDITIONS,
  X64_GPR32,
  X64_GPR64,
  gprName,
  invertX64Cond,
  mem,
  memIndex,
  ripDisp,
  ripLabel,
  ripSymbol,
  type AluOp,
  type Gpr,
  type Gpr64,
  type OperandSize,
  type Scale,
  type ShiftOp,
  type X64Address,
} from './encoder.ts';

/** One encoder call and the Intel-syntax line GNU as must encode to the same bytes. */
interface Case {
  asm: string;
  emit: (a: X64Assembler) => void;
}

const SIZES = [32, 64] as const;
const ALU_OPS: AluOp[] = ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'];
const SHIFT_OPS: ShiftOp[] = ['rol', 'ror', 'shl', 'shr', 'sar'];
const r = (num: number, size: 32 | 64): Gpr => gprName(num, size) as Gpr;
const PTR: Record<OperandSize, string> = { 8: 'byte ptr', 16: 'word ptr', 32: 'dword ptr', 64: 'qword ptr' };

function addrText(addr: X64Address): string {
  const signed = (v: number): string => (v === 0 ? '' : v < 0 ? ` - ${-v}` : ` + ${v}`);
  switch (addr.kind) {
    case 'base':
      return `[${addr.base}${addr.index ? ` + ${addr.index}*${addr.scale ?? 1}` : ''}${signed(addr.disp)}]`;
    case 'rip-disp':
      return `[rip${signed(addr.disp)}]`;
    case 'rip-symbol':
      return `[rip + ${addr.symbol}${signed(addr.addend)}]`;
    case 'rip-label':
      throw new Error('labels are formatted by the test itself');
  }
}

function encode(emit: (a: X64Assembler) => void): Uint8Array {
  const a = new X64Assembler();
  emit(a);
  return a.finish().code;
}

/** Assembles every case with one GNU as run and lists each mismatch. */
function mismatches(cases: readonly Case[]): string[] {
  const oracle = assembleLines('x64', cases.map((c) => c.asm));
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
// Systematic cases: every register combination for the register-only forms.
// ------------------------------------------------------------------------------------------------

function registerCases(): Case[] {
  const cases: Case[] = [];
  for (const size of SIZES) {
    for (let d = 0; d < 16; d++) {
      const dst = r(d, size);
      for (let s = 0; s < 16; s++) {
        const src = r(s, size);
        cases.push({ asm: `mov ${dst}, ${src}`, emit: (a) => a.mov(dst, src) });
        cases.push({ asm: `test ${dst}, ${src}`, emit: (a) => a.test(dst, src) });
        cases.push({ asm: `imul ${dst}, ${src}`, emit: (a) => a.imul(dst, src) });
        // Every op over every pair would be 4096 lines; the ModRM/REX logic is shared, so pair
        // each op with a rotating source.
        const op = ALU_OPS[(d + s) % 8];
        cases.push({ asm: `${op} ${dst}, ${src}`, emit: (a) => a.alu(op, dst, src) });
        for (const name of ['lzcnt', 'tzcnt', 'popcnt'] as const) {
          if ((d + s) % 3 === ['lzcnt', 'tzcnt', 'popcnt'].indexOf(name)) {
            cases.push({ asm: `${name} ${dst}, ${src}`, emit: (a) => a[name](dst, src) });
          }
        }
        const cond = X64_CONDITIONS[(d * 3 + s) % 16];
        cases.push({ asm: `cmov${cond} ${dst}, ${src}`, emit: (a) => a.cmovcc(cond, dst, src) });
        for (const from of [8, 16] as const) {
          const srcName = gprName(s, from);
          cases.push({ asm: `movzx ${dst}, ${srcName}`, emit: (a) => a.movzx(dst, src, from) });
          cases.push({ asm: `movsx ${dst}, ${srcName}`, emit: (a) => a.movsx(dst, src, from) });
        }
        if (size === 64) {
          const src32 = r(s, 32) as (typeof X64_GPR32)[number];
          cases.push({ asm: `movsxd ${dst}, ${src32}`, emit: (a) => a.movsxd(dst as Gpr64, src32) });
        }
      }
      for (const op of ALU_OPS) {
        cases.push({ asm: `${op} ${dst}, ${src0(size)}`, emit: (a) => a.alu(op, dst, src0(size)) });
      }
      for (const [name, method] of [
        ['div', 'div'],
        ['idiv', 'idiv'],
        ['mul', 'mulWide'],
        ['imul', 'imulWide'],
        ['neg', 'neg'],
        ['not', 'not'],
      ] as const) {
        cases.push({ asm: `${name} ${dst}`, emit: (a) => a[method](dst) });
      }
      for (const op of SHIFT_OPS) {
        cases.push({ asm: `${op} ${dst}, cl`, emit: (a) => a.shiftCl(op, dst) });
        for (const count of [0, 1, 2, 7, size - 1]) {
          cases.push({ asm: `${op} ${dst}, ${count}`, emit: (a) => a.shiftImm(op, dst, count) });
        }
      }
    }
  }
  for (let n = 0; n < 16; n++) {
    const q = X64_GPR64[n];
    cases.push({ asm: `push ${q}`, emit: (a) => a.push(q) });
    cases.push({ asm: `pop ${q}`, emit: (a) => a.pop(q) });
    cases.push({ asm: `call ${q}`, emit: (a) => a.callReg(q) });
    cases.push({ asm: `jmp ${q}`, emit: (a) => a.jmpReg(q) });
    for (const cond of X64_CONDITIONS) {
      cases.push({ asm: `set${cond} ${gprName(n, 8)}`, emit: (a) => a.setcc(cond, q) });
    }
  }
  cases.push(
    { asm: 'ret', emit: (a) => a.ret() },
    { asm: 'int3', emit: (a) => a.int3() },
    { asm: 'ud2', emit: (a) => a.ud2() },
    { asm: 'nop', emit: (a) => a.nop() },
    { asm: 'cqo', emit: (a) => a.cqo() },
    { asm: 'cdq', emit: (a) => a.cdq() },
  );
  return cases;
}

function src0(size: 32 | 64): Gpr {
  return size === 64 ? 'rax' : 'eax';
}

const INTERESTING_IMMS = [0, 1, -1, 2, 127, 128, -128, -129, 255, 0x1000, 0x7fffffff, -0x80000000];

function immediateCases(): Case[] {
  const cases: Case[] = [];
  for (const size of SIZES) {
    for (let d = 0; d < 16; d++) {
      const dst = r(d, size);
      const imms = size === 32 ? [...INTERESTING_IMMS, 0xffffffff, 0x80000000] : INTERESTING_IMMS;
      for (const imm of imms) {
        const op = ALU_OPS[(d + imms.indexOf(imm)) % 8];
        cases.push({ asm: `${op} ${dst}, ${imm}`, emit: (a) => a.aluImm(op, dst, imm) });
        if (d % 4 === 0 || d === 1) cases.push({ asm: `test ${dst}, ${imm}`, emit: (a) => a.testImm(dst, imm) });
        cases.push({ asm: `mov ${dst}, ${imm}`, emit: (a) => a.movImm32(dst, imm) });
        const src = r(15 - d, size);
        cases.push({ asm: `imul ${dst}, ${src}, ${imm}`, emit: (a) => a.imulImm(dst, src, imm) });
      }
      for (const op of ALU_OPS) cases.push({ asm: `${op} ${dst}, 0x12345`, emit: (a) => a.aluImm(op, dst, 0x12345) });
    }
  }
  for (const v of [0n, 1n, -1n, 0x8000000000000000n, 0x123456789abcdef0n, 0xffffffffn]) {
    for (const q of ['rax', 'r9', 'rsp', 'r15'] as const) {
      cases.push({ asm: `movabs ${q}, ${BigInt.asUintN(64, v)}`, emit: (a) => a.movabs(q, v) });
    }
  }
  return cases;
}

// ------------------------------------------------------------------------------------------------
// Property-style cases: random addresses, registers and immediates (fixed seed, one GNU as run).
// ------------------------------------------------------------------------------------------------

const gpr64Arb = fc.constantFrom(...X64_GPR64);
const dispArb = fc.oneof(
  fc.constantFrom(0, 1, -1, 8, 127, 128, -128, -129, 0x7fffffff, -0x80000000),
  fc.integer({ min: -0x80000000, max: 0x7fffffff }),
  fc.integer({ min: -300, max: 300 }),
);
const addrArb: fc.Arbitrary<X64Address> = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(gpr64Arb, dispArb).map(([b, d]) => mem(b, d)) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(gpr64Arb, gpr64Arb.filter((i) => i !== 'rsp'), fc.constantFrom<Scale>(1, 2, 4, 8), dispArb)
      .map(([b, i, s, d]) => memIndex(b, i, s, d)),
  },
  { weight: 1, arbitrary: fc.integer({ min: -0x80000000, max: 0x7fffffff }).map((d) => ripDisp(d)) },
);

function memoryCaseArb(): fc.Arbitrary<Case> {
  const reg = fc.integer({ min: 0, max: 15 });
  return fc.oneof(
    fc.tuple(reg, fc.constantFrom(32, 64) as fc.Arbitrary<32 | 64>, addrArb).map(([n, size, addr]) => {
      const dst = r(n, size);
      return { asm: `mov ${dst}, ${PTR[size]} ${addrText(addr)}`, emit: (a: X64Assembler) => a.load(dst, addr) };
    }),
    fc.tuple(reg, fc.constantFrom(32, 64) as fc.Arbitrary<32 | 64>, fc.constantFrom(8, 16) as fc.Arbitrary<8 | 16>, addrArb, fc.boolean()).map(
      ([n, size, from, addr, signed]) => {
        const dst = r(n, size);
        const name = signed ? 'movsx' : 'movzx';
        return {
          asm: `${name} ${dst}, ${PTR[from]} ${addrText(addr)}`,
          emit: (a: X64Assembler) => (signed ? a.loadSx(dst, addr, from) : a.loadZx(dst, addr, from)),
        };
      },
    ),
    fc.tuple(reg, addrArb).map(([n, addr]) => {
      const dst = r(n, 64);
      return { asm: `movsxd ${dst}, dword ptr ${addrText(addr)}`, emit: (a: X64Assembler) => a.loadSx(dst, addr, 32) };
    }),
    fc.tuple(reg, fc.constantFrom(8, 16, 32, 64) as fc.Arbitrary<OperandSize>, addrArb).map(([n, size, addr]) => {
      const src = r(n, 64);
      return { asm: `mov ${PTR[size]} ${addrText(addr)}, ${gprName(n, size)}`, emit: (a: X64Assembler) => a.store(addr, src, size) };
    }),
    fc.tuple(fc.constantFrom(8, 16, 32, 64) as fc.Arbitrary<OperandSize>, addrArb, fc.integer({ min: -128, max: 127 }), fc.integer({ min: -0x80000000, max: 0x7fffffff })).map(
      ([size, addr, small, big]) => {
        const imm = size === 8 ? small : size === 16 ? small * 200 : big;
        return { asm: `mov ${PTR[size]} ${addrText(addr)}, ${imm}`, emit: (a: X64Assembler) => a.storeImm(addr, imm, size) };
      },
    ),
    fc.tuple(reg, fc.constantFrom(32, 64) as fc.Arbitrary<32 | 64>, addrArb).map(([n, size, addr]) => {
      const dst = r(n, size);
      return { asm: `lea ${dst}, ${addrText(addr)}`, emit: (a: X64Assembler) => a.lea(dst, addr) };
    }),
    fc.tuple(reg, fc.constantFrom(32, 64) as fc.Arbitrary<32 | 64>, fc.constantFrom(...ALU_OPS), addrArb).map(([n, size, op, addr]) => {
      const dst = r(n, size);
      return { asm: `${op} ${dst}, ${PTR[size]} ${addrText(addr)}`, emit: (a: X64Assembler) => a.aluLoad(op, dst, addr) };
    }),
    fc.tuple(reg, fc.constantFrom(32, 64) as fc.Arbitrary<32 | 64>, addrArb).map(([n, size, addr]) => {
      const dst = r(n, size);
      return { asm: `imul ${dst}, ${PTR[size]} ${addrText(addr)}`, emit: (a: X64Assembler) => a.imulLoad(dst, addr) };
    }),
    fc.tuple(reg, fc.constantFrom(32, 64) as fc.Arbitrary<32 | 64>, fc.constantFrom(...ALU_OPS), addrArb).map(([n, size, op, addr]) => {
      const src = r(n, size);
      return { asm: `${op} ${PTR[size]} ${addrText(addr)}, ${src}`, emit: (a: X64Assembler) => a.aluStore(op, addr, src) };
    }),
    fc.tuple(fc.constantFrom(32, 64) as fc.Arbitrary<32 | 64>, fc.constantFrom(...ALU_OPS), addrArb, fc.constantFrom(0, 1, -1, 127, -128, 128, 0x12345678, -0x80000000)).map(
      ([size, op, addr, imm]) => ({
        asm: `${op} ${PTR[size]} ${addrText(addr)}, ${imm}`,
        emit: (a: X64Assembler) => a.aluStoreImm(op, addr, imm, size),
      }),
    ),
    fc.tuple(fc.constantFrom(32, 64) as fc.Arbitrary<32 | 64>, fc.constantFrom(...ALU_OPS.filter((o) => o !== 'cmp')), addrArb, fc.constantFrom(1, -1, 127, 0x12345678)).map(
      ([size, op, addr, imm]) => ({
        asm: `lock ${op} ${PTR[size]} ${addrText(addr)}, ${imm}`,
        emit: (a: X64Assembler) => a.lockAluStoreImm(op as Exclude<typeof op, 'cmp'>, addr, imm, size),
      }),
    ),
    addrArb.map((addr) => ({ asm: `call qword ptr ${addrText(addr)}`, emit: (a: X64Assembler) => a.callMem(addr) })),
    addrArb.map((addr) => ({ asm: `jmp qword ptr ${addrText(addr)}`, emit: (a: X64Assembler) => a.jmpMem(addr) })),
  );
}

function immediateCaseArb(): fc.Arbitrary<Case> {
  const reg = fc.integer({ min: 0, max: 15 });
  const size = fc.constantFrom(32, 64) as fc.Arbitrary<32 | 64>;
  const imm32 = fc.oneof(fc.integer({ min: -0x80000000, max: 0x7fffffff }), fc.integer({ min: -200, max: 200 }));
  return fc.oneof(
    fc.tuple(reg, size, fc.constantFrom(...ALU_OPS), imm32).map(([n, s, op, imm]) => ({
      asm: `${op} ${r(n, s)}, ${imm}`,
      emit: (a: X64Assembler) => a.aluImm(op, r(n, s), imm),
    })),
    fc.tuple(reg, size, fc.constantFrom(...SHIFT_OPS), fc.integer({ min: 0, max: 63 })).map(([n, s, op, count]) => ({
      asm: `${op} ${r(n, s)}, ${count % s}`,
      emit: (a: X64Assembler) => a.shiftImm(op, r(n, s), count % s),
    })),
    fc.tuple(reg, fc.bigInt({ min: -(1n << 63n), max: (1n << 64n) - 1n })).map(([n, v]) => ({
      asm: `movabs ${r(n, 64)}, ${BigInt.asUintN(64, v)}`,
      emit: (a: X64Assembler) => a.movabs(r(n, 64) as Gpr64, v),
    })),
  );
}

test('register, immediate and fixed forms match GNU as byte for byte', (t) => {
  const cases = [...registerCases(), ...immediateCases()];
  t.true(cases.length > 2500);
  t.deepEqual(mismatches(cases), []);
});

test('random memory operands, registers and immediates match GNU as (fast-check, one run)', (t) => {
  const cases = [
    ...fc.sample(memoryCaseArb(), { seed: 0x5eed, numRuns: 2000 }),
    ...fc.sample(immediateCaseArb(), { seed: 0xcafe, numRuns: 1000 }),
  ];
  t.deepEqual(mismatches(cases), []);
});

// ------------------------------------------------------------------------------------------------
// Capstone decodes our stream back into the same instructions.
// ------------------------------------------------------------------------------------------------

type CapstoneInsn = { address: number | bigint; size: number; mnemonic: string; op_str: string };
type CapstoneModule = {
  Capstone: new (arch: number, mode: number) => { disasm(code: ArrayLike<number>, address: number): CapstoneInsn[]; close(): void };
  ARCH_X86: number;
  MODE_64: number;
};
const require = createRequire(import.meta.url);
const capstone: Promise<CapstoneModule> = (require('@alexaltea/capstone-js') as () => Promise<CapstoneModule>)();

async function disassemble(code: Uint8Array): Promise<CapstoneInsn[]> {
  const cs = await capstone;
  const d = new cs.Capstone(cs.ARCH_X86, cs.MODE_64);
  try {
    return d.disasm(Array.from(code), 0);
  } finally {
    d.close();
  }
}

test('Capstone splits a stream of every register form at our instruction boundaries', async (t) => {
  const cases = [...registerCases(), ...fc.sample(memoryCaseArb(), { seed: 7, numRuns: 300 })];
  const a = new X64Assembler();
  const starts: number[] = [];
  for (const c of cases) {
    starts.push(a.offset);
    c.emit(a);
  }
  const insns = await disassemble(a.finish().code);
  t.deepEqual(
    insns.map((i) => Number(i.address)),
    starts,
  );
});

test('movImm picks the shortest flag-preserving form and loads the value', async (t) => {
  const values = [0n, 1n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n, -1n, -0x80000000n, -0x80000001n, 0x123456789abcdef0n];
  const lengths: number[] = [];
  for (const v of values) {
    const code = encode((a) => a.movImm('r10', v));
    lengths.push(code.length);
    const [insn] = await disassemble(code);
    t.is(insn.size, code.length);
    const imm = BigInt(insn.op_str.split(', ')[1]);
    const loaded = insn.op_str.startsWith('r10d') ? BigInt.asUintN(32, imm) : BigInt.asUintN(64, imm);
    t.is(loaded, BigInt.asUintN(64, v), `value ${v}: ${insn.mnemonic} ${insn.op_str}`);
  }
  t.deepEqual(lengths, [6, 6, 6, 6, 6, 10, 7, 7, 10, 10]);
  t.deepEqual(Array.from(encode((a) => a.movImm('ecx', -1n))), [0xb9, 0xff, 0xff, 0xff, 0xff]);
});

// ------------------------------------------------------------------------------------------------
// Labels, fix-ups, relocations, patching.
// ------------------------------------------------------------------------------------------------

test('forward and backward label references match GNU as with forced rel32', (t) => {
  const a = new X64Assembler();
  const top = a.newLabel();
  const bottom = a.newLabel();
  const data = a.newLabel();
  a.bind(top);
  a.jmp(bottom);
  a.jcc('ne', bottom);
  a.call(bottom);
  a.lea('rax', ripLabel(data));
  a.storeImm(ripLabel(data, 4), 7, 32);
  a.nop();
  a.bind(bottom);
  a.jcc('l', top);
  a.jmp(top);
  a.call(top);
  a.ret();
  a.bind(data);
  a.emit64(0x1122334455667788n);
  t.is(a.labelOffset(bottom), 5 + 6 + 5 + 7 + 10 + 1);

  const oracle = assembleLines('x64', [
    'top:',
    '{disp32} jmp bottom',
    '{disp32} jne bottom',
    'call bottom',
    'lea rax, [rip + data]',
    'mov dword ptr [rip + data + 4], 7',
    'nop',
    'bottom:',
    '{disp32} jl top',
    '{disp32} jmp top',
    'call top',
    'ret',
    'data:',
    '.quad 0x1122334455667788',
  ]);
  const expected = oracle.map((l) => toHex(l.bytes)).join('');
  t.is(toHex(a.finish().code), expected);
});

test('a jump table of label differences matches GNU as', (t) => {
  const a = new X64Assembler();
  const table = a.newLabel();
  const cases = [a.newLabel(), a.newLabel(), a.newLabel()];
  const before = a.newLabel();
  a.bind(before);
  a.int3();
  a.lea('rax', ripLabel(table));
  a.loadSx('rcx', memIndex('rax', 'rdi', 4), 32);
  a.add('rax', 'rcx');
  a.jmpReg('rax');
  a.alignTo(4, 0xcc);
  a.bind(table);
  a.emitLabelDelta32(cases[2], table);
  a.emitLabelDelta32(before, table);
  for (const c of cases) a.emitLabelDelta32(c, table);
  cases.forEach((c, i) => {
    a.bind(c);
    a.movImm32('eax', i);
    a.ret();
  });
  const oracle = assembleLines('x64', [
    '.Lbefore:',
    'int3',
    'lea rax, [rip + .Ltable]',
    'movsxd rcx, dword ptr [rax + rdi*4]',
    'add rax, rcx',
    'jmp rax',
    '.balign 4, 0xcc',
    '.Ltable:',
    '.long .Lc2 - .Ltable',
    '.long .Lbefore - .Ltable',
    '.long .Lc0 - .Ltable',
    '.long .Lc1 - .Ltable',
    '.long .Lc2 - .Ltable',
    '.Lc0: mov eax, 0',
    'ret',
    '.Lc1: mov eax, 1',
    'ret',
    '.Lc2: mov eax, 2',
    'ret',
  ]);
  t.is(toHex(a.finish().code), oracle.map((l) => toHex(l.bytes)).join(''));
});

test('relocation requests match the relocations GNU as records', (t) => {
  const a = new X64Assembler();
  const lines: string[] = [];
  const starts: number[] = [];
  const add = (asm: string, emit: () => void): void => {
    starts.push(a.offset);
    lines.push(asm);
    emit();
  };
  add('call wasm_libcall', () => a.callSymbol('wasm_libcall'));
  add('jmp tail_target', () => a.jmpSymbol('tail_target'));
  add('lea rax, [rip + table]', () => a.lea('rax', ripSymbol('table')));
  add('mov r11, qword ptr [rip + table + 16]', () => a.load('r11', ripSymbol('table', 16)));
  add('mov dword ptr [rip + counter], 5', () => a.storeImm(ripSymbol('counter'), 5, 32));
  add('mov byte ptr [rip + counter - 3], 1', () => a.storeImm(ripSymbol('counter', -3), 1, 8));
  add('cmp qword ptr [rip + fuel], 1000', () => a.aluStoreImm('cmp', ripSymbol('fuel'), 1000, 64));
  add('add dword ptr [rip + fuel + 4], 1', () => a.aluStoreImm('add', ripSymbol('fuel', 4), 1, 32));
  add('.quad vmctx_global + 8', () => a.quadSymbol('vmctx_global', 8n));
  const oracle = assembleLines('x64', lines);
  const ours = a.finish();
  t.is(toHex(ours.code), oracle.map((l) => toHex(l.bytes)).join(''));
  const theirs = oracle.flatMap((l, i) => l.relocations.map((rel) => ({ offset: rel.offset + starts[i], kind: rel.type, symbol: rel.symbol, addend: rel.addend })));
  t.deepEqual(ours.relocations, theirs);
});

test('sub/add rsp, imm32 keep the imm32 form and can be patched later', async (t) => {
  const a = new X64Assembler();
  const at = a.subRspImm32(0);
  const back = a.addRspImm32(16);
  a.patch32(at, 0x40);
  t.is(at, 3);
  t.is(back, 10);
  const code = a.finish().code;
  t.is(toHex(code), '4881ec40000000' + '4881c410000000');
  const insns = await disassemble(code);
  t.deepEqual(
    insns.map((i) => `${i.mnemonic} ${i.op_str}`),
    ['sub rsp, 0x40', 'add rsp, 0x10'],
  );
  t.is(a.read32(back), 16);
});

test('labels: unbound at finish, double bind and foreign labels are EncodeErrors', (t) => {
  const a = new X64Assembler();
  const never = a.newLabel();
  a.jmp(never);
  const e = t.throws(() => a.finish(), { instanceOf: EncodeError });
  t.is(e?.instruction, 'jmp');
  t.is(e?.operand, 'label');

  const b = new X64Assembler();
  const l = b.newLabel();
  b.bind(l);
  t.throws(() => b.bind(l), { instanceOf: EncodeError });
  t.throws(() => b.jmp(a.newLabel()), { instanceOf: EncodeError });
  t.throws(() => b.labelOffset(b.newLabel()), { instanceOf: EncodeError });
  t.throws(() => b.lea('rax', ripLabel(l, -0x80000000)), { instanceOf: EncodeError, message: /does not fit/ });
});

test('unencodable operands throw EncodeError naming instruction and operand', (t) => {
  const expectError = (emit: (a: X64Assembler) => void, instruction: string, operand: string): void => {
    const e = t.throws(() => emit(new X64Assembler()), { instanceOf: EncodeError });
    t.is(e?.instruction, instruction);
    t.is(e?.operand, operand);
  };
  expectError((a) => a.load('rax', memIndex('rax', 'rsp', 2)), 'mov', 'addr.index');
  expectError((a) => a.lea('rax', memIndex('rax', 'rcx', 3 as Scale)), 'lea', 'addr.scale');
  expectError((a) => a.load('rax', mem('eax' as Gpr64)), 'mov', 'addr.base');
  expectError((a) => a.load('rax', mem('rax', 0x80000000)), 'mov', 'addr.disp');
  expectError((a) => a.addImm('rax', 0x80000000), 'add', 'imm');
  expectError((a) => a.addImm('eax', 0x100000000), 'add', 'imm');
  expectError((a) => a.addImm('eax', 1.5), 'add', 'imm');
  expectError((a) => a.mov('rax', 'ecx'), 'mov', 'src');
  expectError((a) => a.mov('rax', 'xmm0' as Gpr), 'mov', 'src');
  expectError((a) => a.shiftImm('shl', 'eax', 32), 'shl', 'imm');
  expectError((a) => a.movsxd('eax' as Gpr64, 'ecx'), 'movsxd', 'dst');
  expectError((a) => a.movabs('rax', 1n << 64n), 'movabs', 'imm');
  expectError((a) => a.storeImm(mem('rax'), 256, 8), 'mov', 'imm');
  expectError((a) => a.push('eax' as Gpr64), 'push', 'reg');
  expectError((a) => a.jcc('zz' as never, a.newLabel()), 'jzz', 'cond');
});

test('invertX64Cond pairs each condition with its complement', (t) => {
  t.deepEqual(X64_CONDITIONS.map(invertX64Cond), ['no', 'o', 'ae', 'b', 'ne', 'e', 'a', 'be', 'ns', 's', 'np', 'p', 'ge', 'l', 'g', 'le']);
});

test('a lock prefix only goes on read-modify-write forms', (t) => {
  const a = new X64Assembler();
  t.throws(() => a.lockAluStoreImm('cmp' as never, mem('rax'), 1, 64), { instanceOf: EncodeError });
  a.lockAluStoreImm('add', mem('rdi'), 1, 64);
  t.is(toHex(a.finish().code), 'f048830701');
});
