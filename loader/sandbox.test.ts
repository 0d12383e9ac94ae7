import test from 'ava';
import { ARCHES } from '../isa/arch.ts';
import { Machine } from '../simulator/machine.ts';
import { GuestTrap } from '../simulator/trap.ts';
import { LoaderError } from './elf.ts';
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
