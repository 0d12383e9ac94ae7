import test from 'ava';
import { CodeBuffer, EncodeError, INT32_REACH } from './code-buffer.ts';
import { Aarch64Assembler } from './aarch64/encoder.ts';
import { X64Assembler } from './x64/encoder.ts';

test('deferred traps: one label per code, emitted in first-use order in the final island, trap sites sorted', (t) => {
  const a = new X64Assembler();
  const overflow = a.deferredTrap('StackOverflow');
  a.jcc('b', overflow);
  a.jcc('e', a.deferredTrap('IntegerDivisionByZero'));
  t.is(a.deferredTrap('StackOverflow'), overflow, 'the same label for the same code');
  a.trap('UnreachableCodeReached');
  const out = a.finish();
  // jb rel32 (6) + je rel32 (6) + ud2 (2), then the island: ud2 for StackOverflow, ud2 for division.
  t.deepEqual(out.traps, [
    { offset: 12, code: 'UnreachableCodeReached' },
    { offset: 14, code: 'StackOverflow' },
    { offset: 16, code: 'IntegerDivisionByZero' },
  ]);
  t.deepEqual([...out.code.slice(12)], [0x0f, 0x0b, 0x0f, 0x0b, 0x0f, 0x0b]);
  t.is(new DataView(out.code.buffer).getInt32(2, true), 14 - 6, 'jb reaches its island trap');
});

test('AArch64 traps are udf #0xc11f; a bare buffer has no trap instruction', (t) => {
  const a = new Aarch64Assembler();
  a.trap('IntegerOverflow');
  t.deepEqual([...a.finish().code], [0x1f, 0xc1, 0x00, 0x00]);
  const bare = new CodeBuffer('x64');
  t.throws(() => bare.trap('StackOverflow'), { instanceOf: EncodeError, message: /no trap instruction/ });
});

test('deadline: the nearest offset a pending label use can still reach, for placing an island before it', (t) => {
  const a = new Aarch64Assembler();
  t.is(a.deadline, Infinity);
  const far = a.newLabel();
  const near = a.newLabel();
  a.b(far); // ±128 MiB
  t.is(a.deadline, ((1 << 25) - 1) * 4);
  a.tbz('x0', 3, near); // ±32 KiB, at offset 4
  t.is(a.deadline, 4 + ((1 << 13) - 1) * 4);
  a.bind(near);
  t.is(a.deadline, ((1 << 25) - 1) * 4);
  a.bind(far);
  t.is(a.deadline, Infinity);
  const x = new X64Assembler();
  x.jmp(x.newLabel());
  t.is(x.deadline, INT32_REACH, 'x64 rel32: ±2 GiB, counted (conservatively) from the instruction');
});
