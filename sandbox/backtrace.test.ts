import test from 'ava';
import { ARCHES } from '../isa/arch.ts';
import { GuestTrap } from '../simulator/trap.ts';
import { Sandbox } from './sandbox.ts';
import { compile, type Compiler } from './testing.ts';

// A known chain: outer → middle → inner (a leaf that faults). No tail calls, no inlining.
const CHAIN = `
#define KEEP __attribute__((noinline, noipa))
KEEP int inner(volatile int *p) { return *p + 1; }
KEEP int middle(volatile int *p, int k) { int v = inner(p); return v * k + 3; }
KEEP int outer(volatile int *p) { int v = middle(p, 5); return v - 7; }
`;

async function frames(sb: Sandbox): Promise<Array<[string, string]>> {
  const e = (() => {
    try {
      sb.call('outer', 'i32(ptr)', [0x20n]);
    } catch (err) {
      return err;
    }
    return undefined;
  })();
  if (!(e instanceof GuestTrap)) throw new Error('no trap');
  return e.backtrace.map((f) => [(f.symbol ?? '?').replace(/\+.*/, ''), f.method ?? '?']);
}

const clangFlags = (cc: Compiler) => (cc === 'clang' ? ['-Wno-unknown-attributes'] : []);

for (const arch of ARCHES) {
  for (const cc of ['gcc', 'clang'] as Compiler[]) {
    for (const opt of ['-O0', '-O2']) {
      test(`${arch} ${cc} ${opt}: .eh_frame CFI finds every frame of a known call chain`, async (t) => {
        const sb = await Sandbox.load([compile(arch, cc, CHAIN, [opt, ...clangFlags(cc)])]);
        try {
          t.true(sb.cfiEntries >= 3);
          t.deepEqual(await frames(sb), [['inner', 'pc'], ['middle', 'cfi'], ['outer', 'cfi']]);
        } finally {
          sb.close();
        }
      });
    }
  }

  test(`${arch}: without CFI, the link register (AArch64 leaf) and the frame-pointer chain`, async (t) => {
    const flags = ['-O0', '-fno-asynchronous-unwind-tables', '-fno-unwind-tables', '-fno-omit-frame-pointer'];
    const sb = await Sandbox.load([compile(arch, 'gcc', CHAIN, flags)]);
    try {
      t.is(sb.cfiEntries, 0);
      // gcc -O0 gives an x86-64 leaf a frame record; an AArch64 leaf saves none: its caller is in LR.
      t.deepEqual(await frames(sb), [['inner', 'pc'], ['middle', arch === 'x64' ? 'fp' : 'lr'], ['outer', 'fp']]);
    } finally {
      sb.close();
    }
  });

  test(`${arch}: -ffunction-sections, -fPIC and -fstack-protector-all objects load and unwind`, async (t) => {
    for (const cc of ['gcc', 'clang'] as Compiler[]) {
      const sb = await Sandbox.load([compile(arch, cc, CHAIN, ['-O2', '-ffunction-sections', '-fPIC', '-fstack-protector-all', ...clangFlags(cc)])]);
      try {
        const v = sb.allocate(4);
        sb.write(v, Uint8Array.of(9, 0, 0, 0));
        t.is(sb.call('outer', 'i32(ptr)', [v]).value, (9 + 1) * 5 + 3 - 7, cc);
        t.deepEqual(await frames(sb), [['inner', 'pc'], ['middle', 'cfi'], ['outer', 'cfi']], cc);
      } finally {
        sb.close();
      }
    }
  });
}
