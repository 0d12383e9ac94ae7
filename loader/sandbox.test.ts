import test from 'ava';
import { ARCHES } from '../isa/arch.ts';
import { Machine } from '../simulator/machine.ts';
import { GuestTrap } from '../simulator/trap.ts';
import { LoaderError, readElf } from './elf.ts';
import { loadObjects } from './sandbox.ts';
import { compileC } from './test-toolchain.ts';

const SOURCE = `
static const long constant = 7;
long poke_code(long v) { *(volatile long *)(void *)&poke_code = v; return 0; }
long poke_rodata(long v) { *(volatile long *)&constant = v; return constant; }
long read_constant(void) { return constant; }
long spin(long n) { volatile long i = 0; while (n) i++; return i; }
`;

for (const arch of ARCHES) {
  test(`${arch}: loaded text and rodata are never writable by the guest; limits are on by default`, async (t) => {
    const obj = compileC(arch, SOURCE, ['-O1', '-fno-stack-protector']);
    const machine = await Machine.create({ arch });
    try {
      t.is(machine.budget, 1n << 32n);
      t.is(machine.timeoutMs, 10_000);
      const p = loadObjects(machine, [{ file: obj.path, bytes: obj.bytes }]);
      t.is(p.call('read_constant'), 7n);
      let e = t.throws(() => p.call('poke_code', [1]), { instanceOf: GuestTrap }) as GuestTrap;
      t.is(e.kind, 'write-protected');
      t.is(e.address, p.address('poke_code'));
      e = t.throws(() => p.call('poke_rodata', [1]), { instanceOf: GuestTrap }) as GuestTrap;
      t.is(e.kind, 'write-protected');
      t.is(p.call('read_constant'), 7n);
      e = t.throws(() => p.call('spin', [1], { timeoutMs: 100 }), { instanceOf: GuestTrap }) as GuestTrap;
      t.is(e.kind, 'timeout');
      t.throws(() => p.address('missing'), { instanceOf: LoaderError });
    } finally {
      machine.close();
    }
  });
}

/** The object with section `name`'s sh_addralign set to `align` (as a hostile or odd object would say). */
function withAlignment(bytes: Uint8Array, name: string, align: bigint): Uint8Array {
  const out = bytes.slice();
  const v = new DataView(out.buffer);
  const shoff = Number(v.getBigUint64(40, true));
  const index = readElf(bytes, 'x.o').sections.findIndex((s) => s.name === name);
  v.setBigUint64(shoff + index * 64 + 48, align, true);
  return out;
}

for (const arch of ARCHES) {
  test(`${arch}: sections aligned to 8 MiB (gcc's aligned(1<<23)) and 1 GiB are placed by address arithmetic; 2 GiB is a LoaderError`, async (t) => {
    const source = `
static long table[4] __attribute__((aligned(1 << 23))) = {10, 20, 30, 40};
long f(long i) __attribute__((aligned(1 << 23)));
long f(long i) { return table[i & 3]; }
long g(long i) { return f(i) + 1; }
void set(long i, long v) { table[i & 3] = v; }
`;
    const obj = compileC(arch, source, ['-O1']);
    t.is(readElf(obj.bytes, obj.path).sections.find((s) => s.name === '.data')?.addralign, 1n << 23n);
    for (const [bytes, align] of [[obj.bytes, 1n << 23n], [withAlignment(obj.bytes, '.text', 1n << 30n), 1n << 30n]] as const) {
      const machine = await Machine.create({ arch });
      try {
        const rss = process.memoryUsage().rss;
        const p = loadObjects(machine, [{ file: obj.path, bytes }]);
        t.is(p.call('g', [2]), 31n);
        t.is(p.address('f') % align, 0n);
        t.is(p.address('table') % (1n << 23n), 0n);
        // No segment holds the padding: every one is a few pages, whatever the alignment.
        for (const seg of p.image.segments) t.true(seg.size <= 0x10000n, `${seg.kind} segment of ${seg.size} bytes`);
        t.true(process.memoryUsage().rss - rss < 64 * 1024 * 1024);
      } finally {
        machine.close();
      }
    }
    const machine = await Machine.create({ arch });
    try {
      // The rejection comes before any placement: the host allocates nothing for the padding (a
      // wall-clock bound here failed on a loaded machine; memory is what the bug cost).
      const rss = process.memoryUsage().rss;
      const e = t.throws(() => loadObjects(machine, [{ file: obj.path, bytes: withAlignment(obj.bytes, '.text', 1n << 31n) }]), { instanceOf: LoaderError });
      t.is(e?.kind, 'bad-alignment');
      t.is(e?.section, '.text');
      t.regex(e?.message ?? '', /alignment 0x80000000/);
      t.true(process.memoryUsage().rss - rss < 64 * 1024 * 1024);
    } finally {
      machine.close();
    }
  });
}
