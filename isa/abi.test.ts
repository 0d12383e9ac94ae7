import test from 'ava';
import { AARCH64_ABI, SYSCALL_ABIS, X64_ABI, abiOf } from './abi.ts';
import { registersOf } from './registers.ts';

// Numbers from the System V AMD64 psABI (§3.2: six integer argument registers, a 128-byte red
// zone, 16-byte alignment at a call, `call` pushes the 8-byte return address), AAPCS64 (§6.4:
// x0–x7, x30 the link register, 16-byte SP alignment, the frame record {x29, x30}) and
// wasmtime v17's arch/{x86_64,aarch64}.rs (assert_fp_is_aligned: 16 on x86-64, none on AArch64).
test('one ABI record per arch, with the facts of its ABI', (t) => {
  t.is(abiOf('x64'), X64_ABI);
  t.is(abiOf('aarch64'), AARCH64_ABI);
  t.deepEqual(X64_ABI.intArgs, ['rdi', 'rsi', 'rdx', 'rcx', 'r8', 'r9']);
  t.is(X64_ABI.intResult, 'rax');
  t.deepEqual([X64_ABI.returnAddress, X64_ABI.callPushBytes, X64_ABI.redZone, X64_ABI.stackAlignment, X64_ABI.fpAlignment], ['stack', 8, 128, 16, 16]);
  t.is(X64_ABI.lr, undefined);
  t.deepEqual(AARCH64_ABI.intArgs, ['x0', 'x1', 'x2', 'x3', 'x4', 'x5', 'x6', 'x7']);
  t.is(AARCH64_ABI.intResult, 'x0');
  t.deepEqual([AARCH64_ABI.returnAddress, AARCH64_ABI.callPushBytes, AARCH64_ABI.redZone, AARCH64_ABI.stackAlignment, AARCH64_ABI.fpAlignment], ['link-register', 0, 0, 16, undefined]);
  t.deepEqual([AARCH64_ABI.fp, AARCH64_ABI.lr], ['x29', 'x30']);
  for (const abi of [X64_ABI, AARCH64_ABI]) {
    t.deepEqual(abi.frameRecord, { size: 16, callerFp: 0, returnAddress: 8 });
    const regs = registersOf(abi.arch);
    t.is(abi.intArgs, regs.intArgs, 'the registers are the register file\'s, not a copy');
    t.is(abi.calleeSaved, regs.calleeSaved);
  }
});

// DWARF numbers from the System V AMD64 psABI (fig. 3.36: rbx 3, rbp 6, rsp 7, r12–r15 12–15)
// and DWARF for the Arm 64-bit Architecture (§4.1: x0–x30 are 0–30, SP 31); result and
// vector registers from the same ABIs (rax:rdx, xmm0–7; x0:x1, v0–v7; AAPCS64 §6.9: x8 carries
// the indirect result address; System V: al counts the vector registers of a variadic call).
test('result, vector and DWARF registers per arch', (t) => {
  t.deepEqual(X64_ABI.intResults, ['rax', 'rdx']);
  t.deepEqual(AARCH64_ABI.intResults, ['x0', 'x1']);
  t.is(X64_ABI.intResults[0], X64_ABI.intResult);
  t.is(AARCH64_ABI.intResults[0], AARCH64_ABI.intResult);
  t.is(X64_ABI.floatArgIds.length, 8);
  t.is(AARCH64_ABI.floatArgIds.length, 8);
  t.deepEqual([X64_ABI.indirectResult, X64_ABI.vectorCount], [undefined, 'rax']);
  t.deepEqual([AARCH64_ABI.indirectResult, AARCH64_ABI.vectorCount], ['x8', undefined]);
  t.deepEqual(X64_ABI.dwarf, { sp: 7, fp: 6, lr: undefined });
  t.deepEqual(AARCH64_ABI.dwarf, { sp: 31, fp: 29, lr: 30 });
  t.deepEqual(X64_ABI.unwindRegisters.map((r) => [r.name, r.dwarf]), [['rsp', 7], ['rbp', 6], ['rbx', 3], ['r12', 12], ['r13', 13], ['r14', 14], ['r15', 15]]);
  t.deepEqual(AARCH64_ABI.unwindRegisters.map((r) => [r.name, r.dwarf]), [
    ['sp', 31], ['x29', 29], ['x30', 30],
    ...Array.from({ length: 10 }, (_, i) => [`x${19 + i}`, 19 + i]),
  ]);
});

// Linux's syscall(2) table of conventions: x86-64 `syscall` (rax; rdi rsi rdx r10 r8 r9 →
// rax), i386 `int $0x80` (eax; ebx ecx edx esi edi ebp → eax), arm64 `svc #0` (x8; x0–x5 → x0).
test('the Linux system-call conventions', (t) => {
  t.deepEqual(SYSCALL_ABIS.x64, { registers: ['rax', 'rdi', 'rsi', 'rdx', 'r10', 'r8', 'r9'], result: 'rax', width: 64 });
  t.deepEqual(SYSCALL_ABIS.i386, { registers: ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp'], result: 'rax', width: 32 });
  t.deepEqual(SYSCALL_ABIS.aarch64, { registers: ['x8', 'x0', 'x1', 'x2', 'x3', 'x4', 'x5'], result: 'x0', width: 64 });
});
