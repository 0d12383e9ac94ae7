import test from 'ava';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Arch } from './arch.ts';
import { StackscopeError } from './error.ts';
import { DisasmError, Disassembler, createDisassembler } from './disasm.ts';
import type { Insn, InsnDetail, Operand } from './disasm.ts';

// ---------------------------------------------------------------------------------------------
// Oracle: GNU as assembles a corpus into an object; objdump lists its .text. Both run once per
// architecture for the whole corpus.

interface ObjdumpLine {
  address: bigint;
  bytes: Uint8Array;
  mnemonic: string;
  operands: string;
}

const TOOLS: Record<Arch, { as: string[]; objcopy: string; objdump: string[] }> = {
  x64: { as: ['as'], objcopy: 'objcopy', objdump: ['objdump', '-M', 'intel'] },
  aarch64: { as: ['aarch64-linux-gnu-as', '-march=armv8.2-a'], objcopy: 'aarch64-linux-gnu-objcopy', objdump: ['aarch64-linux-gnu-objdump'] },
};

function run(argv: string[]): string {
  const result = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${argv.join(' ')} failed: ${result.stderr || String(result.error)}`);
  return result.stdout;
}

/** Assembles `source`, returns the raw .text bytes and objdump's listing of it at `vma`. */
function assembleAndDump(arch: Arch, source: string, vma: bigint): { text: Uint8Array; listing: ObjdumpLine[] } {
  const dir = mkdtempSync(join(tmpdir(), 'stackscope-disasm-'));
  try {
    const tools = TOOLS[arch];
    writeFileSync(join(dir, 'corpus.s'), source);
    run([...tools.as, join(dir, 'corpus.s'), '-o', join(dir, 'corpus.o')]);
    run([tools.objcopy, '-O', 'binary', '--only-section=.text', join(dir, 'corpus.o'), join(dir, 'text.bin')]);
    const dump = run([...tools.objdump, '-d', '--insn-width=16', `--adjust-vma=0x${vma.toString(16)}`, join(dir, 'corpus.o')]);
    return { text: new Uint8Array(readFileSync(join(dir, 'text.bin'))), listing: parseObjdump(arch, dump) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const X64_PREFIXES = new Set(['lock', 'rep', 'repz', 'repe', 'repnz', 'repne', 'notrack', 'bnd']);

function parseObjdump(arch: Arch, dump: string): ObjdumpLine[] {
  const lines: ObjdumpLine[] = [];
  for (const line of dump.split('\n')) {
    const m = /^\s*([0-9a-f]+):\t([0-9a-f ]+?)\s*\t(\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    let bytes: number[];
    if (arch === 'x64') {
      bytes = m[2].split(' ').map((b) => parseInt(b, 16));
    } else {
      // AArch64 objdump prints each instruction as one little-endian word in big-endian hex.
      const word = parseInt(m[2], 16);
      bytes = [word & 0xff, (word >>> 8) & 0xff, (word >>> 16) & 0xff, word >>> 24];
    }
    // Prefixes are part of the mnemonic in both tools (`lock cmpxchg`, `rep stos`).
    let [mnemonic, operands] = [m[3], m[4]];
    const prefixed = /^(\S+)\s*(.*)$/.exec(operands);
    if (X64_PREFIXES.has(mnemonic) && prefixed) [mnemonic, operands] = [`${mnemonic} ${prefixed[1]}`, prefixed[2]];
    lines.push({ address: BigInt('0x' + m[1]), bytes: Uint8Array.from(bytes), mnemonic, operands });
  }
  return lines;
}

/**
 * Brings objdump's and Capstone's operand text to one spelling: lower case, no whitespace,
 * comments and `<symbol>` annotations dropped, every number in decimal (objdump writes branch
 * targets as bare hex and AArch64 offsets in decimal, Capstone writes hex), x86 `*1` index
 * scales and `es:`/`ds:` string-operand segments dropped, and x86 64-bit wrapped displacements
 * (`rip+0xfff…f3`) written as negatives.
 */
function normalizeOperands(arch: Arch, text: string): string {
  let s = text.toLowerCase();
  s = arch === 'x64' ? s.replace(/\s#\s.*$/, '') : s.replace(/\/\/.*$/, '');
  s = s.replace(/\b([0-9a-f]+) <[^>]*>/g, '0x$1'); // objdump branch target: bare hex + symbol
  if (arch === 'x64') {
    s = s.replace(/\b([c-gs]s):(0x[0-9a-f]+|\d+)\b/g, '$1:[$2]'); // objdump's `gs:0x28` is `gs:[0x28]`
    s = s.replace(/\b[de]s:(?=\[r[sd]i\])/g, '').replace(/\*1(?=[\]+-])/g, '');
  }
  s = s.replace(/\s+/g, '').replace(/#/g, '');
  s = s.replace(/(-?)(0x[0-9a-f]+|\d+\.\d+(?:e[+-]?\d+)?|\d+)/g, (_, sign: string, n: string) => {
    if (n.includes('.')) return String(parseFloat(sign + n));
    let value = BigInt(n);
    if (value >= 1n << 63n) value -= 1n << 64n;
    return String(sign === '-' ? -value : value);
  });
  return s.replace(/\+-/g, '-');
}

/** Capstone spells string instructions with a size suffix (`rep stosq`), objdump without. */
function normalizeMnemonic(arch: Arch, mnemonic: string, operands: string): string {
  if (arch === 'x64' && /\[r[sd]i\]/.test(operands)) return mnemonic.replace(/^((?:rep|repne) )?(stos|movs|lods|scas|cmps)[bwdq]$/, '$1$2');
  return mnemonic;
}

const X64_CORPUS = `
  .intel_syntax noprefix
  .text
f:
  push rbp
  mov rbp, rsp
  push r15
  sub rsp, 0x40
  mov qword ptr [rbp - 8], rdi
  mov rax, qword ptr [rbx + rcx*8 + 16]
  mov eax, dword ptr [rdi + 0x12345678]
  mov r8d, 0x7fffffff
  mov byte ptr [rsp + r12 + 3], 0x7f
  movabs rax, 0x1122334455667788
  movzx eax, byte ptr [rdi]
  movzx ecx, word ptr [rsi + 2]
  movsx rax, word ptr [rdx]
  movsxd rax, dword ptr [rdx + r9*4]
  lea rax, [rip + f]
  lea r9, [rbp + rbx*2 - 16]
  add rax, rbx
  add rax, 0x12345
  adc rdx, 0
  sub r10, 1
  imul rax, rbx
  imul rax, rbx, 100
  idiv rcx
  div r11
  cqo
  cdq
  and eax, 0xff
  or r12, r13
  xor eax, eax
  not rax
  neg rdx
  shl rax, cl
  shr rdx, 7
  sar rdx, 3
  rol eax, 1
  cmp rax, rbx
  cmp dword ptr [rdi + 4], 0
  test eax, eax
  test byte ptr [rsi], 1
  cmove rax, rbx
  cmovl ecx, edx
  sete al
  setb cl
  bt rax, 3
  bsf rax, rcx
  lzcnt rax, rcx
  tzcnt rax, rcx
  popcnt rax, rcx
  xchg rax, rbx
  jne f
  je g
  jmp f
  jmp rax
  jmp qword ptr [rip + 0x10]
  call f
  call rax
  call qword ptr [rax + 8]
  lock cmpxchg qword ptr [rdi], rsi
  lock xadd dword ptr [rdi], eax
  mov qword ptr gs:[0x28], rax
  mov rax, qword ptr fs:[0]
  rep stosq
  rep movsb
g:
  addsd xmm0, xmm1
  subss xmm2, dword ptr [rax]
  mulsd xmm0, qword ptr [rsp + 8]
  divsd xmm3, xmm4
  sqrtsd xmm0, xmm0
  cvtsi2sd xmm0, rax
  cvttsd2si rax, xmm0
  ucomisd xmm0, xmm1
  pxor xmm0, xmm0
  movdqu xmm1, xmmword ptr [rsi]
  movaps xmm0, xmm1
  movq rax, xmm0
  movq xmm0, rax
  movsd xmm0, qword ptr [rip + 0x10]
  paddd xmm0, xmm1
  vaddpd ymm0, ymm1, ymm2
  int3
  ud2
  syscall
  hlt
  nop
  nop dword ptr [rax + rax]
  endbr64
  leave
  pop r15
  pop rbp
  ret
  ret 8
`;

const AARCH64_CORPUS = `
  .text
f:
  stp x29, x30, [sp, #-16]!
  mov x29, sp
  sub sp, sp, #32
  str x19, [sp, #8]
  ldr x0, [x1, #8]
  ldr x0, [x1, x2, lsl #3]
  ldr w0, [x1, w2, sxtw #2]
  ldrb w3, [x4], #1
  ldrh w3, [x4, #2]!
  ldursw x5, [x6, #-4]
  ldur x0, [x1, #-8]
  ldp x0, x1, [sp, #16]
  str w0, [x1]
  strb w0, [x1, #3]
  ldaxr x0, [x1]
  stlxr w2, x0, [x1]
  ldar x0, [x1]
  stlr w0, [x1]
  casal x0, x1, [x2]
  ldaddal x0, x1, [x2]
  add x0, x1, x2
  add x0, x1, #0x10
  add x0, x1, x2, lsl #4
  add x0, x1, w2, uxtw #3
  adds x0, x1, x2
  sub w0, w1, w2, asr #2
  subs x0, x1, #1
  cmp x1, x2
  cmp w1, #5
  cmn x3, #7
  tst x4, #0xff
  neg x0, x1
  mul x0, x1, x2
  madd x0, x1, x2, x3
  msub x0, x1, x2, x3
  smulh x0, x1, x2
  udiv x0, x1, x2
  sdiv w0, w1, w2
  and x0, x1, #0xff00
  orr x0, x1, x2
  eor w0, w1, w2, ror #3
  mvn x0, x1
  lsl x0, x1, #3
  lsr x0, x1, x2
  asr w0, w1, #31
  ubfx x0, x1, #4, #8
  sbfx x0, x1, #4, #8
  bfi x0, x1, #3, #4
  sxtw x0, w1
  uxtb w0, w1
  clz x0, x1
  rbit x0, x1
  rev x0, x1
  mov x0, #0x10000
  movk x0, #0x1234, lsl #16
  mov x0, #-1
  mov x0, x1
  csel x0, x1, x2, lt
  csinc x0, x1, x2, ge
  cset w0, ne
  cinc x0, x1, eq
  ccmp x0, x1, #0, ne
  adrp x0, f
  adr x1, f
  b f
  b.ne f
  b.eq g
  cbz x0, f
  cbnz w1, f
  tbz x0, #63, f
  tbnz w0, #3, f
  bl f
  blr x17
  br x16
  ret
g:
  fadd d0, d1, d2
  fsub s0, s1, s2
  fmul d0, d1, d2
  fdiv d0, d1, d2
  fsqrt d0, d1
  fcmp d0, d1
  fcmp s0, #0.0
  fcvtzs x0, d0
  scvtf d0, x0
  fcvt s0, d0
  fmov d0, x1
  fmov x1, d0
  fmov d0, #1.0
  fcsel d0, d1, d2, gt
  add v0.4s, v0.4s, v1.4s
  movi v0.2d, #0
  mov v0.s[1], w1
  umov w0, v1.b[3]
  dup v0.4s, w1
  ld1 {v0.16b}, [x0]
  ldr q0, [x0, #16]
  str d1, [sp, #8]
  mrs x0, nzcv
  msr nzcv, x0
  mrs x0, tpidr_el0
  dmb ish
  isb
  nop
  brk #0xf000
  udf #0
  svc #0
  ldp x29, x30, [sp], #16
  ret
`;

const CORPORA: Record<Arch, string> = { x64: X64_CORPUS, aarch64: AARCH64_CORPUS };
const VMA = 0x401000n;

for (const arch of ['x64', 'aarch64'] as const) {
  test(`${arch}: addresses, sizes, bytes and text agree with objdump on the corpus`, (t) => {
    const { text, listing } = assembleAndDump(arch, CORPORA[arch], VMA);
    const insns = createDisassembler(arch).disasm(text, VMA);
    t.true(listing.length > 90, `objdump listed only ${listing.length} instructions`);
    t.is(insns.length, listing.length);
    const mismatches: string[] = [];
    for (let i = 0; i < Math.min(insns.length, listing.length); i++) {
      const ours = insns[i];
      const theirs = listing[i];
      const where = `${theirs.address.toString(16)} ${theirs.mnemonic} ${theirs.operands}`;
      t.is(ours.address, theirs.address, where);
      t.deepEqual(ours.bytes, theirs.bytes, where);
      t.is(ours.size, theirs.bytes.length, where);
      t.falsy(ours.invalid, where);
      t.is(ours.text, ours.opStr ? `${ours.mnemonic} ${ours.opStr}` : ours.mnemonic);
      if (normalizeMnemonic(arch, ours.mnemonic, ours.opStr) !== theirs.mnemonic) {
        mismatches.push(`mnemonic: capstone '${ours.text}' vs objdump '${theirs.mnemonic} ${theirs.operands}'`);
        continue;
      }
      const a = normalizeOperands(arch, ours.opStr);
      const b = normalizeOperands(arch, theirs.operands);
      if (a !== b) {
        mismatches.push(`operands: capstone '${ours.text}' (${a}) vs objdump '${theirs.mnemonic} ${theirs.operands}' (${b})`);
      }
    }
    t.deepEqual(mismatches, []);
    // The listing covers .text exactly.
    t.is(insns.reduce((n, insn) => n + insn.size, 0), text.length);
  });
}

// ---------------------------------------------------------------------------------------------
// Details of instructions whose semantics are known. Each case is one source line; the cases
// are assembled together (after a label `f` at VMA that branches refer to) and decoded with
// details, so a wrong struct offset shows up as a wrong field here.

type DetailCheck = (t: import('ava').ExecutionContext, insn: Insn, d: InsnDetail) => void;

function decodeCases(arch: Arch, cases: readonly (readonly [string, DetailCheck])[]): Insn[] {
  const prologue = arch === 'x64' ? '.intel_syntax noprefix\n.text\nf:\n' : '.text\nf:\n';
  const { text, listing } = assembleAndDump(arch, prologue + cases.map(([line]) => line).join('\n') + '\n', VMA);
  if (listing.length !== cases.length) throw new Error(`expected one instruction per case line, got ${listing.length}`);
  return createDisassembler(arch).disasm(text, VMA, { detail: true });
}

function checkCases(arch: Arch, cases: readonly (readonly [string, DetailCheck])[]): void {
  test(`${arch}: details of known instructions`, (t) => {
    const insns = decodeCases(arch, cases);
    t.is(insns.length, cases.length);
    cases.forEach(([source, check], i) => {
      const insn = insns[i];
      t.truthy(insn.detail, source);
      check(t, insn, insn.detail!);
    });
  });
}

const sorted = (names: string[]): string[] => [...names].sort();
function operand<T extends Operand['type']>(d: InsnDetail, index: number, type: T): Extract<Operand, { type: T }> {
  const op = d.operands[index];
  if (op?.type !== type) throw new Error(`operand ${index} is ${op?.type}, expected ${type}`);
  return op as Extract<Operand, { type: T }>;
}

checkCases('x64', [
  ['push rbp', (t, _, d) => {
    t.deepEqual(d.regsRead, ['rsp']);
    t.deepEqual(d.regsWrite, ['rsp']);
    t.deepEqual(sorted(d.allRegsRead), ['rbp', 'rsp']);
    t.deepEqual(d.allRegsWrite, ['rsp']);
    t.deepEqual(d.operands, [{ type: 'reg', reg: 'rbp', access: 'read', size: 8 }]);
    t.deepEqual(d.x64?.opcode, [0x55, 0, 0, 0]);
  }],
  ['mov rax, qword ptr [rbx + rcx*8 + 16]', (t, _, d) => {
    t.deepEqual(d.operands, [
      { type: 'reg', reg: 'rax', access: 'write', size: 8 },
      { type: 'mem', mem: { base: 'rbx', index: 'rcx', scale: 8, disp: 16n }, access: 'read', size: 8 },
    ]);
    t.deepEqual(sorted(d.allRegsRead), ['rbx', 'rcx']);
    t.deepEqual(d.allRegsWrite, ['rax']);
    // 48 8b 44 cb 10: REX.W, opcode, ModRM, SIB, disp8.
    const x = d.x64!;
    t.deepEqual([x.rex, x.opcode[0], x.modrm, x.sib, x.disp, x.addrSize], [0x48, 0x8b, 0x44, 0xcb, 16n, 8]);
    t.deepEqual(x.encoding, { modrmOffset: 2, dispOffset: 4, dispSize: 1, immOffset: 0, immSize: 0 });
    t.is(x.eflags, 0n);
  }],
  ['lea r9, [rbp + rbx*2 - 16]', (t, _, d) => {
    t.deepEqual(operand(d, 1, 'mem').mem, { base: 'rbp', index: 'rbx', scale: 2, disp: -16n });
    t.is(d.x64?.rex, 0x4c);
  }],
  ['mov qword ptr gs:[0x28], rax', (t, _, d) => {
    t.deepEqual(d.operands[0], { type: 'mem', mem: { segment: 'gs', scale: 1, disp: 0x28n }, access: 'write', size: 8 });
    t.deepEqual(d.operands[1], { type: 'reg', reg: 'rax', access: 'read', size: 8 });
    t.is(d.x64?.prefix[1], 0x65);
  }],
  ['add rax, 0x12345', (t, _, d) => {
    t.deepEqual(d.regsWrite, ['rflags']);
    t.deepEqual(operand(d, 0, 'reg'), { type: 'reg', reg: 'rax', access: 'readwrite', size: 8 });
    t.is(operand(d, 1, 'imm').imm, 0x12345n);
    t.deepEqual(d.x64?.encoding, { modrmOffset: 0, dispOffset: 0, dispSize: 0, immOffset: 2, immSize: 4 });
    t.not(d.x64?.eflags, 0n);
  }],
  ['movabs rax, 0x1122334455667788', (t, _, d) => t.is(operand(d, 1, 'imm').imm, 0x1122334455667788n)],
  ['mov rcx, -2', (t, _, d) => t.is(operand(d, 1, 'imm').imm, -2n)],
  ['cmp rax, rbx', (t, _, d) => {
    t.deepEqual(sorted(d.allRegsRead), ['rax', 'rbx']);
    t.deepEqual(d.allRegsWrite, ['rflags']);
  }],
  ['jne f', (t, _, d) => {
    t.deepEqual(d.regsRead, ['rflags']);
    t.true(d.groups.includes('jump'));
    t.true(d.groups.includes('branch_relative'));
    t.is(operand(d, 0, 'imm').imm, BigInt(VMA));
  }],
  ['call f', (t, _, d) => {
    t.true(d.groups.includes('call'));
    t.true(d.groups.includes('branch_relative'));
    t.deepEqual(d.regsWrite, ['rsp']);
    t.is(operand(d, 0, 'imm').imm, BigInt(VMA));
  }],
  ['call qword ptr [rax + 8]', (t, _, d) => {
    t.true(d.groups.includes('call'));
    t.deepEqual(operand(d, 0, 'mem').mem, { base: 'rax', scale: 1, disp: 8n });
    t.deepEqual(sorted(d.allRegsRead), ['rax', 'rsp']);
  }],
  ['ret', (t, _, d) => {
    t.true(d.groups.includes('ret'));
    t.deepEqual(d.regsRead, ['rsp']);
  }],
  ['jmp rax', (t, _, d) => t.true(d.groups.includes('jump') && !d.groups.includes('branch_relative'))],
  ['lock cmpxchg qword ptr [rdi], rsi', (t, insn, d) => {
    t.is(insn.mnemonic, 'lock cmpxchg');
    t.is(d.x64?.prefix[0], 0xf0);
    t.true(d.allRegsRead.includes('rax'));
  }],
  ['addsd xmm0, xmm1', (t, _, d) => {
    t.true(d.groups.includes('sse2'));
    t.deepEqual(d.operands.map((o) => [o.type === 'reg' && o.reg, o.access, o.size]), [['xmm0', 'readwrite', 16], ['xmm1', 'read', 16]]);
  }],
  ['int3', (t, _, d) => t.true(d.groups.includes('int'))],
  ['rep stosq', (t, _, d) => t.deepEqual(sorted(d.allRegsWrite), ['rcx', 'rdi'])],
]);

checkCases('aarch64', [
  ['stp x29, x30, [sp, #-16]!', (t, _, d) => {
    t.deepEqual(d.operands, [
      { type: 'reg', reg: 'x29', access: 'read' },
      { type: 'reg', reg: 'x30', access: 'read' },
      { type: 'mem', mem: { base: 'sp', disp: -16n }, access: 'readwrite' },
    ]);
    t.true(d.allRegsWrite.includes('sp'));
    t.deepEqual(d.aarch64, { updateFlags: false, writeback: true, postIndex: false });
  }],
  ['ldp x29, x30, [sp], #16', (t, _, d) => {
    t.deepEqual(sorted(d.allRegsWrite), ['sp', 'x29', 'x30']);
    t.deepEqual(d.aarch64, { updateFlags: false, writeback: true, postIndex: true });
  }],
  ['ldr x0, [x1, #8]', (t, _, d) => {
    t.deepEqual(d.operands, [
      { type: 'reg', reg: 'x0', access: 'write' },
      { type: 'mem', mem: { base: 'x1', disp: 8n }, access: 'read' },
    ]);
    t.deepEqual(d.allRegsRead, ['x1']);
    t.deepEqual(d.allRegsWrite, ['x0']);
    t.false(d.aarch64?.writeback);
  }],
  ['ldr x0, [x1, x2, lsl #3]', (t, _, d) => {
    const mem = operand(d, 1, 'mem');
    t.deepEqual(mem.mem, { base: 'x1', index: 'x2', disp: 0n });
    t.deepEqual(mem.shift, { kind: 'lsl', amount: 3 });
  }],
  ['ldr w0, [x1, w2, sxtw #2]', (t, _, d) => {
    const mem = operand(d, 1, 'mem');
    t.deepEqual(mem.mem, { base: 'x1', index: 'w2', disp: 0n });
    t.deepEqual([mem.extend, mem.shift], ['sxtw', { kind: 'lsl', amount: 2 }]);
  }],
  ['ldur x0, [x1, #-8]', (t, _, d) => t.deepEqual(operand(d, 1, 'mem').mem, { base: 'x1', disp: -8n })],
  ['add x0, x1, w2, uxtw #3', (t, _, d) => {
    t.deepEqual(d.operands[2], { type: 'reg', reg: 'w2', access: 'read', extend: 'uxtw', shift: { kind: 'lsl', amount: 3 } });
  }],
  ['sub w0, w1, w2, asr #2', (t, _, d) => t.deepEqual(operand(d, 2, 'reg').shift, { kind: 'asr', amount: 2 })],
  ['movk x0, #0x1234, lsl #16', (t, _, d) => {
    const imm = operand(d, 1, 'imm');
    t.is(imm.imm, 0x1234n);
    t.deepEqual(imm.shift, { kind: 'lsl', amount: 16 });
  }],
  ['cmp x1, x2', (t, _, d) => {
    t.deepEqual(d.regsWrite, ['nzcv']);
    t.deepEqual(d.allRegsRead, ['x1', 'x2']);
    t.deepEqual(d.allRegsWrite, ['nzcv']);
    t.true(d.operands.every((o) => o.access === 'read'));
    t.true(d.aarch64?.updateFlags);
  }],
  ['tst w4, #0xff', (t, _, d) => {
    t.deepEqual(d.allRegsRead, ['w4']);
    t.deepEqual(d.allRegsWrite, ['nzcv']);
  }],
  ['b.ne f', (t, _, d) => {
    t.deepEqual(d.regsRead, ['nzcv']);
    t.is(d.aarch64?.cc, 'ne');
    t.true(d.groups.includes('jump'));
    t.is(operand(d, 0, 'imm').imm, BigInt(VMA));
  }],
  ['csel x0, x1, x2, lt', (t, _, d) => {
    t.is(d.aarch64?.cc, 'lt');
    t.true(d.allRegsRead.includes('nzcv'));
  }],
  ['bl f', (t, _, d) => {
    t.true(d.groups.includes('call'));
    t.deepEqual(d.regsWrite, ['x30']);
    t.is(operand(d, 0, 'imm').imm, BigInt(VMA));
  }],
  ['blr x17', (t, _, d) => {
    t.true(d.groups.includes('call'));
    t.deepEqual(d.allRegsRead, ['x17']);
  }],
  ['br x16', (t, _, d) => t.true(d.groups.includes('jump') && !d.groups.includes('call'))],
  ['ret', (t, _, d) => t.deepEqual(d.groups, ['ret'])],
  ['adrp x0, f', (t, _, d) => t.is(operand(d, 1, 'imm').imm, VMA & ~0xfffn)],
  ['add v0.4s, v0.4s, v1.4s', (t, _, d) => {
    t.true(d.groups.includes('neon'));
    t.deepEqual(operand(d, 2, 'reg'), { type: 'reg', reg: 'v1', access: 'read', arrangement: '4s' });
  }],
  ['mov v0.s[1], w1', (t, _, d) => t.is(operand(d, 0, 'reg').vectorIndex, 1)],
  ['fmov d0, #1.5', (t, _, d) => t.is(operand(d, 1, 'fp').fp, 1.5)],
  ['mrs x0, nzcv', (t, _, d) => t.is(operand(d, 1, 'system').value, 0xda10)], // ARM64_SYSREG_NZCV
  ['brk #0xf000', (t, _, d) => t.is(operand(d, 0, 'imm').imm, 0xf000n)],
]);

// ---------------------------------------------------------------------------------------------
// Undecodable bytes, limits, argument errors.

const x64 = (): Disassembler => createDisassembler('x64');
const a64 = (): Disassembler => createDisassembler('aarch64');
const le32 = (...words: number[]): Uint8Array => {
  const bytes = new Uint8Array(words.length * 4);
  words.forEach((w, i) => new DataView(bytes.buffer).setUint32(i * 4, w, true));
  return bytes;
};
const summary = (insns: Insn[]): string[] => insns.map((i) => `${i.address.toString(16)} ${i.size} ${i.text}${i.invalid ? ' !' : ''}`);

test('x64: undecodable bytes become .byte pseudo-instructions and decoding resumes', (t) => {
  // 06 is `push es`, invalid in 64-bit mode; 48 8b is a truncated mov.
  const code = Uint8Array.from([0x06, 0x90, 0x48, 0x8b]);
  t.deepEqual(summary(x64().disasm(code, 0x1000n, { detail: true })), [
    '1000 1 .byte 0x06 !', '1001 1 nop', '1002 1 .byte 0x48 !', '1003 1 .byte 0x8b !',
  ]);
  const [bad, nop] = x64().disasm(code, 0x1000n, { detail: true });
  t.is(bad.id, 0);
  t.is(bad.detail, undefined);
  t.truthy(nop.detail);
  t.is(x64().scan(code, 0x1000n).invalidAt, 0x1000n);
  const scan = x64().scan(code.subarray(1), 0x1001n);
  t.is(scan.count, 1);
  t.is(scan.invalidAt, 0x1002n);
});

test('aarch64: an undecodable word becomes .inst and a short tail becomes .byte', (t) => {
  const code = Uint8Array.from([...le32(0xffffffff, 0xd503201f), 0x01, 0x02]);
  t.deepEqual(summary(a64().disasm(code, 0x4000n)), ['4000 4 .inst 0xffffffff !', '4004 4 nop', '4008 2 .byte 0x01, 0x02 !']);
  t.is(a64().scan(code, 0x4000n).invalidAt, 0x4000n);
});

test('addresses wrap at 2^64 like Capstone', (t) => {
  t.deepEqual(summary(x64().disasm(Uint8Array.from([0x90, 0x06, 0x90]), 0xffff_ffff_ffff_ffffn)), [
    'ffffffffffffffff 1 nop', '0 1 .byte 0x06 !', '1 1 nop',
  ]);
});

test('count limits the instructions decoded; empty input decodes to nothing', (t) => {
  const code = le32(0xd503201f, 0xd503201f, 0xd65f03c0);
  t.is(a64().disasm(code, 0n, { count: 2 }).length, 2);
  t.is(a64().disasm(code, 0n, { count: 0 }).length, 0);
  t.is(a64().disasm(new Uint8Array(0), 0n).length, 0);
  const scan = a64().scan(code, 0x10n, { count: 2 });
  t.deepEqual([scan.count, [...scan.offsets], [...scan.sizes], scan.invalidAt], [2, [0, 4], [4, 4], undefined]);
  t.deepEqual(Array.from(a64().scan(code, 0n).ids, (id) => a64().insnName(id)), ['nop', 'nop', 'ret']);
});

test('bad arguments throw DisasmError', (t) => {
  for (const address of [-1n, 1n << 64n, 5 as unknown as bigint]) {
    const error = t.throws(() => x64().disasm(Uint8Array.of(0x90), address), { instanceOf: DisasmError });
    t.true(error instanceof StackscopeError);
  }
  for (const count of [-1, 1.5, Number.NaN]) t.throws(() => a64().scan(le32(0xd503201f), 0n, { count }), { instanceOf: DisasmError });
  t.throws(() => x64().disasm([0x90] as unknown as Uint8Array, 0n), { instanceOf: DisasmError });
  t.throws(() => createDisassembler('mips' as Arch), { instanceOf: DisasmError, message: /unknown architecture mips/ });
});

test('createDisassembler caches one instance per architecture; names resolve', (t) => {
  t.is(createDisassembler('x64'), x64());
  t.not(createDisassembler('aarch64') as unknown, x64() as unknown);
  t.true(x64() instanceof Disassembler);
  t.is(x64().arch, 'x64');
  t.is(x64().groupName(2), 'call');
  t.is(a64().groupName(3), 'ret');
  t.is(x64().regName(60000), 'reg#60000');
});

test('a heap-growing input keeps later decodes correct', (t) => {
  const big = new Uint8Array(24 << 20).fill(0x90); // larger than the initial wasm heap
  t.deepEqual(summary(x64().disasm(big, 0n, { count: 2 })), ['0 1 nop', '1 1 nop']);
  t.deepEqual(summary(x64().disasm(Uint8Array.of(0xc3), 8n, { detail: true })), ['8 1 ret']);
  t.true(x64().disasm(Uint8Array.of(0xc3), 8n, { detail: true })[0].detail?.groups.includes('ret'));
});

// ---------------------------------------------------------------------------------------------
// Random bytes: never an exception; the listing tiles the input; scan agrees with disasm.

for (const arch of ['x64', 'aarch64'] as const) {
  test(`${arch}: random bytes decode to a contiguous listing and scan agrees`, (t) => {
    const d = createDisassembler(arch);
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.boolean(),
        (bytes, address, detail) => {
          const insns = d.disasm(bytes, address, { detail });
          let offset = 0;
          for (const insn of insns) {
            if (insn.address !== BigInt.asUintN(64, address + BigInt(offset))) return false;
            if (!sameBytes(insn.bytes, bytes.subarray(offset, offset + insn.size))) return false;
            if (insn.size < 1 || insn.size > (arch === 'x64' ? 15 : 4)) return false;
            if (arch === 'aarch64' && insn.size !== 4 && offset + insn.size !== bytes.length) return false;
            if ((insn.invalid === true) !== (insn.id === 0)) return false;
            if ((insn.detail !== undefined) !== (detail && !insn.invalid)) return false;
            offset += insn.size;
          }
          if (offset !== bytes.length) return false;

          const scan = d.scan(bytes, address);
          const firstInvalid = insns.findIndex((i) => i.invalid);
          const valid = firstInvalid === -1 ? insns : insns.slice(0, firstInvalid);
          return (
            scan.count === valid.length &&
            scan.invalidAt === (firstInvalid === -1 ? undefined : insns[firstInvalid].address) &&
            valid.every((insn, i) => scan.sizes[i] === insn.size && scan.ids[i] === insn.id && BigInt(scan.offsets[i]) === BigInt.asUintN(64, insn.address - address))
          );
        },
      ),
      { numRuns: 400, seed: 0x5eed },
    );
    t.pass();
  });
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
