import test from 'ava';
import { AARCH64_ABI, X64_ABI, abiOf } from './abi.ts';
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
