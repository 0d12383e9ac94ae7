import test from 'ava';
import { AARCH64_CPU, X64_CPU, cpuOf } from './cpu.ts';
import { createDisassembler } from './disasm.ts';

const hex = (bytes: readonly number[]) => Buffer.from(bytes).toString('hex');

// Encodings from the Intel SDM (int3 CC, ret C3, nop 90) and the Arm ARM (brk #imm16
// D4200000 | imm16 << 5, ret D65F03C0, nop D503201F), and read back with Capstone.
test('breakpoint, return and no-op encodings per arch', (t) => {
  t.is(cpuOf('x64'), X64_CPU);
  t.is(cpuOf('aarch64'), AARCH64_CPU);
  t.is(hex(X64_CPU.breakpoint.encode(0x5353)), 'cc');
  t.is(hex(X64_CPU.ret), 'c3');
  t.is(hex(X64_CPU.nop), '90');
  t.is(hex(AARCH64_CPU.breakpoint.encode(0x5353)), '606a2ad4');
  t.is(hex(AARCH64_CPU.ret), 'c0035fd6');
  t.is(hex(AARCH64_CPU.nop), '1f2003d5');
  for (const cpu of [X64_CPU, AARCH64_CPU]) {
    const code = Uint8Array.from([...cpu.breakpoint.encode(0x5353), ...cpu.ret, ...cpu.nop]);
    const insns = createDisassembler(cpu.arch).disasm(code, 0x1000n);
    t.deepEqual(insns.map((i) => i.mnemonic), [cpu.arch === 'x64' ? 'int3' : 'brk', 'ret', 'nop'], cpu.arch);
    t.is(insns[0].bytes.length, cpu.breakpoint.length);
    if (cpu.instructionSize !== undefined) t.true(insns.every((i) => i.bytes.length === cpu.instructionSize));
  }
});

// QEMU's exception numbers as Unicorn reports them: x86 vectors #DE 0, #BP 3 (a trap: the PC
// is past int3), #UD 6; AArch64 EXCP_UDEF 1, EXCP_BKPT 7 (the PC is the brk's own).
test('interrupt numbers and where the PC stands', (t) => {
  t.deepEqual(X64_CPU.interrupts, {
    0: { fault: 'divide-error', pcAfter: 0 }, 3: { fault: 'breakpoint', pcAfter: 1 }, 6: { fault: 'invalid-instruction', pcAfter: 0 },
  });
  t.deepEqual(AARCH64_CPU.interrupts, { 1: { fault: 'invalid-instruction', pcAfter: 0 }, 7: { fault: 'breakpoint', pcAfter: 0 } });
  t.deepEqual([X64_CPU.breakpoint.interrupt, X64_CPU.breakpoint.pcAfter, X64_CPU.haltPcAfter], [3, 1, 1]);
  t.deepEqual([AARCH64_CPU.breakpoint.interrupt, AARCH64_CPU.breakpoint.pcAfter, AARCH64_CPU.haltPcAfter], [7, 0, 0]);
  t.deepEqual([X64_CPU.checksSpAlignment, AARCH64_CPU.checksSpAlignment], [false, true]);
});

test('the call before a return address', (t) => {
  const how = AARCH64_CPU.callBefore;
  if (!('isCallWord' in how)) return t.fail('AArch64 tests the word');
  t.true(how.isCallWord(0x94000010)); // bl +0x40
  t.true(how.isCallWord(0xd63f0200)); // blr x16
  t.false(how.isCallWord(0x14000010)); // b +0x40
  t.false(how.isCallWord(0xd61f0200)); // br x16
  t.false(how.isCallWord(0xd65f03c0)); // ret
  const x64 = X64_CPU.callBefore;
  if (!('lengths' in x64)) return t.fail('x86-64 disassembles');
  // call rel32 (5), call *%rax (2), call *(%rax,%rbx) (3), call *0x10(%rip) (6), ...
  t.deepEqual([...x64.lengths].sort(), [2, 3, 4, 5, 6, 7]);
  t.is(x64.mnemonic, 'call');
  const [insn] = createDisassembler('x64').disasm(Uint8Array.from([0xe8, 0, 0, 0, 0]), 0n);
  t.is(insn.mnemonic, x64.mnemonic);
});
