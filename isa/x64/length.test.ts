import test from 'ava';
import fc from 'fast-check';
import { createDisassembler } from '../disasm.ts';
import { x64InstructionLength, x64ScanBlock } from './length.ts';

const capstone = createDisassembler('x64');

/** Capstone's length of the first instruction of `bytes`, or -1 when it does not decode. */
function capstoneLength(bytes: Uint8Array): number {
  const scan = capstone.scan(bytes, 0x1000n, { count: 1 });
  return scan.count === 1 ? scan.sizes[0] : -1;
}

const PREFIXES = [[], [0x66], [0xf2], [0xf3], [0x48], [0x41], [0x4c], [0x66, 0x48], [0xf3, 0x48], [0x67], [0x64], [0x66, 0xf3], [0xf0]];
const MODRMS = [0x00, 0x04, 0x05, 0x0c, 0x14, 0x1d, 0x25, 0x2c, 0x35, 0x3c, 0x44, 0x45, 0x4c, 0x84, 0x85, 0xbc, 0xc0, 0xc8, 0xd1, 0xda, 0xe3, 0xec, 0xf5, 0xfe, 0xff];

test('every opcode, prefix and ModRM form the decoder answers for has Capstone\'s length', (t) => {
  let answered = 0;
  for (const prefix of PREFIXES) {
    for (const escape of [[], [0x0f]]) {
      for (let op = 0; op < 256; op++) {
        for (const modrm of MODRMS) {
          for (const sib of [0x24, 0x25, 0xe5]) {
            const bytes = Uint8Array.from([...prefix, ...escape, op, modrm, sib, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99]);
            const n = x64InstructionLength(bytes, 0);
            if (n === 0) continue;
            answered++;
            const expected = capstoneLength(bytes);
            if (n !== expected) t.fail(`${Buffer.from(bytes).toString('hex')}: ${n} bytes, Capstone ${expected}`);
          }
        }
      }
    }
  }
  // The decoder covers a good part of the map (the rest goes to Capstone).
  t.true(answered > 50_000, `${answered} forms answered`);
});

test('random bytes: whenever the decoder answers, Capstone agrees; truncated forms are left to Capstone', (t) => {
  fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 16 }), (raw) => {
    const n = x64InstructionLength(raw, 0);
    if (n === 0) return true;
    return n <= raw.length && capstoneLength(raw) === n && x64InstructionLength(raw.subarray(0, n - 1), 0) === 0;
  }), { numRuns: 20_000 });
  t.pass();
});

test('blocks with syscall, rdtsc, hlt or int n are flagged for the sandbox scan', (t) => {
  t.true(x64ScanBlock(Uint8Array.from([0x48, 0x89, 0xc7, 0x0f, 0x05]))!.system);
  t.true(x64ScanBlock(Uint8Array.from([0x0f, 0x31]))!.system);
  t.true(x64ScanBlock(Uint8Array.from([0x90, 0xf4]))!.system);
  t.true(x64ScanBlock(Uint8Array.from([0xcd, 0x80]))!.system);
  t.false(x64ScanBlock(Uint8Array.from([0x48, 0x89, 0xc7, 0xc3]))!.system);
  t.is(x64ScanBlock(Uint8Array.from([0x48, 0x89])), undefined); // truncated
  t.is(x64ScanBlock(Uint8Array.from([0xfa])), undefined); // cli: Capstone's
});
