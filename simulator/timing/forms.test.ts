import test from 'ava';
import fc from 'fast-check';
import { disassemble } from './disasm.ts';
import { registerEffects } from './effects.ts';
import { FormParseError, parseForm, relaxedKeys } from './forms.ts';

const key = (arch: 'x64' | 'aarch64', text: string) => {
  const sp = text.indexOf(' ');
  return parseForm(arch, sp < 0 ? text : text.slice(0, sp), sp < 0 ? '' : text.slice(sp + 1)).key;
};

test('x64 keys: widths, immediates, memory, LEA shapes, zero idioms', (t) => {
  t.is(key('x64', 'add rax, rbx'), 'add r64,r64');
  t.is(key('x64', 'add eax, 7'), 'add r32,i8');
  t.is(key('x64', 'add eax, 0x1000'), 'add r32,i');
  t.is(key('x64', 'add rax, -0x80'), 'add r64,i8');
  t.is(key('x64', 'rol rbx, 1'), 'rol r64,1');
  t.is(key('x64', 'mov qword ptr [rdi + rsi*8 + 8], rax'), 'mov m64,r64');
  t.is(key('x64', 'mov rax, qword ptr fs:[0x28]'), 'mov r64,m64');
  t.is(key('x64', 'vaddpd ymm0, ymm1, ymmword ptr [rip + 0x10]'), 'vaddpd y,y,m256');
  t.is(key('x64', 'lea rax, [rbx + rcx*4 + 8]'), 'lea r64,m:bisd');
  t.is(key('x64', 'lea rax, [rbx + rcx]'), 'lea r64,m:bi');
  t.is(key('x64', 'lea rax, [rip + 0x100]'), 'lea r64,m:rip');
  t.is(key('x64', 'jne 0x1000'), 'jne rel');
  t.is(key('x64', 'xor eax, eax'), 'xor r32,r32=');
  t.is(key('x64', 'xor eax, ebx'), 'xor r32,r32');
  t.is(key('x64', 'vxorps xmm1, xmm2, xmm2'), 'vxorps x,x,x=');
  t.is(key('x64', 'ret'), 'ret');
  t.deepEqual(relaxedKeys(parseForm('x64', 'shld', 'bx, si, 5')), ['shld r64,r64,i8', 'shld r64,r64,i', '~shld reg,reg,imm']);
});

test('aarch64 keys: shifts, extends, addressing modes, lists, conditions', (t) => {
  t.is(key('aarch64', 'add x0, x1, x2'), 'add x,x,x');
  t.is(key('aarch64', 'add x0, x1, x2, lsl #2'), 'add x,x,x,lsl');
  t.is(key('aarch64', 'orr x0, x1, x2, lsl #7'), 'orr x,x,x,lsl+');
  t.is(key('aarch64', 'add x0, x1, w2, sxtw'), 'add x,x,w,ext');
  t.is(key('aarch64', 'add x0, x1, w2, uxtw #2'), 'add x,x,w,ext#');
  t.is(key('aarch64', 'mov x29, sp'), 'mov x,sp');
  t.is(key('aarch64', 'ldr x0, [x1]'), 'ldr x,m');
  t.is(key('aarch64', 'ldr x0, [x1, #8]'), 'ldr x,m');
  t.is(key('aarch64', 'ldr x0, [x1, x2]'), 'ldr x,m[r]');
  t.is(key('aarch64', 'ldr x0, [x1, x2, lsl #3]'), 'ldr x,m[rs]');
  t.is(key('aarch64', 'ldr w0, [x1, w2, sxtw]'), 'ldr w,m[rx]');
  t.is(key('aarch64', 'ldr w0, [x1, w2, uxtw #2]'), 'ldr w,m[rxs]');
  t.is(key('aarch64', 'ldr x0, [x1, #8]!'), 'ldr x,m[pre]');
  t.is(key('aarch64', 'ldp x29, x30, [sp], #0x10'), 'ldp x,x,m[post]');
  t.is(key('aarch64', 'ld1 {v1.4s, v2.4s}, [x2]'), 'ld1 {v.4s*2},m');
  t.is(key('aarch64', 'csel x0, x1, x2, eq'), 'csel x,x,x,cc');
  t.is(key('aarch64', 'b.ne #0x1000'), 'b.ne rel');
  t.is(key('aarch64', 'tbz w0, #3, #0x40'), 'tbz w,i,rel');
  t.is(key('aarch64', 'fmla v0.2d, v1.2d, v2.d[1]'), 'fmla v.2d,v.2d,v.d[]');
  t.is(key('aarch64', 'mrs x1, tpidr_el0'), 'mrs x,sys');
});

test('unclassifiable operands raise FormParseError naming the operand', (t) => {
  const e = t.throws(() => parseForm('x64', 'add', 'rax, $weird'), { instanceOf: FormParseError });
  t.is(e.operand, '$weird');
  t.throws(() => parseForm('aarch64', 'ldr', 'x0, [q9]'), { instanceOf: FormParseError });
});

test('keys of Capstone output for GNU-assembled bytes (x64 and aarch64)', async (t) => {
  // `add rax, rbx; mov rax, [rdi + rsi*4 + 8]; jne .-10` and `add x0, x1, x2; ldp x5, x6, [sp], #16`.
  const x = await disassemble('x64', Uint8Array.from([0x48, 0x01, 0xd8, 0x48, 0x8b, 0x44, 0xb7, 0x08, 0x75, 0xf6]), 0x1000n);
  t.deepEqual(
    x.map((i) => parseForm('x64', i.mnemonic, i.opStr).key),
    ['add r64,r64', 'mov r64,m64', 'jne rel'],
  );
  const a = await disassemble('aarch64', Uint8Array.from([0x20, 0x00, 0x02, 0x8b, 0xe5, 0x1b, 0xc1, 0xa8]), 0x1000n);
  t.deepEqual(
    a.map((i) => parseForm('aarch64', i.mnemonic, i.opStr).key),
    ['add x,x,x', 'ldp x,x,m[post]'],
  );
});

const fx = (arch: 'x64' | 'aarch64', text: string) => {
  const sp = text.indexOf(' ');
  const e = registerEffects(parseForm(arch, sp < 0 ? text : text.slice(0, sp), sp < 0 ? '' : text.slice(sp + 1)));
  const tag = (r: { reg: string; address?: boolean; accumulator?: boolean; pointerUpdate?: boolean }) =>
    r.reg + (r.address ? '@' : '') + (r.accumulator ? '+' : '') + (r.pointerUpdate ? '^' : '');
  return { reads: e.reads.map(tag).sort(), writes: e.writes.map(tag).sort() };
};

test('x64 register effects', (t) => {
  t.deepEqual(fx('x64', 'add rax, qword ptr [rdi + rsi*8]'), { reads: ['rax', 'rdi@', 'rsi@'], writes: ['flags', 'rax'] });
  t.deepEqual(fx('x64', 'mov eax, ebx'), { reads: ['rbx'], writes: ['rax'] });
  t.deepEqual(fx('x64', 'mov al, bl'), { reads: ['rax', 'rbx'], writes: ['rax'] });
  t.deepEqual(fx('x64', 'mov qword ptr [rdi], rax'), { reads: ['rax', 'rdi@'], writes: [] });
  t.deepEqual(fx('x64', 'cmp rax, rbx'), { reads: ['rax', 'rbx'], writes: ['flags'] });
  t.deepEqual(fx('x64', 'cmovl rax, rbx'), { reads: ['flags', 'rax', 'rbx'], writes: ['rax'] });
  t.deepEqual(fx('x64', 'xor eax, eax'), { reads: [], writes: ['flags', 'rax'] });
  t.deepEqual(fx('x64', 'div rbx'), { reads: ['rax', 'rbx', 'rdx'], writes: ['flags', 'rax', 'rdx'] });
  t.deepEqual(fx('x64', 'imul rax, rbx'), { reads: ['rax', 'rbx'], writes: ['flags', 'rax'] });
  t.deepEqual(fx('x64', 'imul r8, rdx, 7'), { reads: ['rdx'], writes: ['flags', 'r8'] });
  t.deepEqual(fx('x64', 'imul eax, dword ptr [rdi + 4], 0x9e3779b1'), { reads: ['rdi@'], writes: ['flags', 'rax'] });
  t.deepEqual(fx('x64', 'push rbx'), { reads: ['rbx', 'rsp'], writes: ['rsp^'] });
  t.deepEqual(fx('x64', 'vfmadd231pd ymm0, ymm1, ymm2'), { reads: ['v0+', 'v1', 'v2'], writes: ['v0'] });
  t.deepEqual(fx('x64', 'vaddsd xmm0, xmm1, xmm2'), { reads: ['v1', 'v2'], writes: ['v0'] });
  t.deepEqual(fx('x64', 'movsd xmm0, qword ptr [rdi]'), { reads: ['rdi@'], writes: ['v0'] });
  t.deepEqual(fx('x64', 'jne 0x10'), { reads: ['flags'], writes: [] });
});

test('aarch64 register effects', (t) => {
  t.deepEqual(fx('aarch64', 'add x0, x1, x2, lsl #2'), { reads: ['x1', 'x2'], writes: ['x0'] });
  t.deepEqual(fx('aarch64', 'subs x9, x9, #1'), { reads: ['x9'], writes: ['flags', 'x9'] });
  t.deepEqual(fx('aarch64', 'ldr x0, [x1], #8'), { reads: ['x1@'], writes: ['x0', 'x1^'] });
  t.deepEqual(fx('aarch64', 'stp x29, x30, [sp, #-16]!'), { reads: ['sp@', 'x29', 'x30'], writes: ['sp^'] });
  t.deepEqual(fx('aarch64', 'str xzr, [x0]'), { reads: ['x0@'], writes: [] });
  t.deepEqual(fx('aarch64', 'csel x0, x1, x2, lt'), { reads: ['flags', 'x1', 'x2'], writes: ['x0'] });
  t.deepEqual(fx('aarch64', 'fmadd d0, d1, d2, d3'), { reads: ['v1', 'v2', 'v3+'], writes: ['v0'] });
  t.deepEqual(fx('aarch64', 'fmla v0.2d, v1.2d, v2.2d'), { reads: ['v0+', 'v1', 'v2'], writes: ['v0'] });
  t.deepEqual(fx('aarch64', 'movk x0, #0x1234, lsl #16'), { reads: ['x0'], writes: ['x0'] });
  t.deepEqual(fx('aarch64', 'bl #0x100'), { reads: [], writes: ['x30'] });
  t.deepEqual(fx('aarch64', 'ret'), { reads: ['x30'], writes: [] });
  t.deepEqual(fx('aarch64', 'cbnz w0, #0x40'), { reads: ['x0'], writes: [] });
  t.deepEqual(fx('aarch64', 'stlxr w4, x1, [x2]'), { reads: ['x1', 'x2@'], writes: ['x4'] });
});

test('property: parseForm either keys an operand string or throws FormParseError; effects never throw', (t) => {
  const mnemonics = fc.constantFrom('mrs', 'msr', 'ret', 'bl', 'blr', 'push', 'pop', 'mul', 'div', 'xchg', 'cqo', 'leave', 'rep stosb', 'ldp', 'stp', 'stlxr', 'ld1', 'st1', 'fmla', 'fmadd', 'vfmadd231pd', 'xor', 'vxorps', 'cmp', 'csel', 'b.ne', 'cbz', 'tbz', 'movk', 'constructor', '__proto__');
  const tokens = fc.constantFrom('rax', 'eax', 'x0', 'w3', 'sp', 'xzr', '#8', '0x10', '[x1]', '[rdi + 8]', 'qword ptr [rax]', 'lsl #3', 'eq', '{v1.4s}', 'v2.2d', '?', ']', '[', '{', '');
  fc.assert(
    fc.property(fc.constantFrom<'x64' | 'aarch64'>('x64', 'aarch64'), fc.oneof(fc.string({ maxLength: 8 }), mnemonics), fc.array(tokens, { maxLength: 5 }), (arch, mn, ops) => {
      try {
        const f = parseForm(arch, mn, ops.join(', '));
        registerEffects(f);
        return typeof f.key === 'string';
      } catch (e) {
        return e instanceof FormParseError;
      }
    }),
    { numRuns: 500, seed: 3 },
  );
  t.pass();
});
