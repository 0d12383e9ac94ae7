import test from 'ava';
import { Machine } from '../simulator/machine.ts';
import { GuestTrap } from '../simulator/trap.ts';
import { WasmTrap, normalizeTrapCode } from './errors.ts';
import { TrapRegistry } from './traps.ts';

test('trap sites are looked up by exact PC; sites beyond what a number holds exactly are refused', (t) => {
  const reg = new TrapRegistry();
  const high = 0x1f_ffff_ffff_f000n; // below 2^53
  reg.addSites(high, [{ offset: 0xff0, code: 'BadSignature' }]);
  t.is(reg.codeAt(high + 0xff0n), 'BadSignature');
  t.is(reg.codeAt(high + 0xff1n), undefined);
  t.is(reg.codeAt(high + 0xfefn), undefined);
  // 2^53 + 0xff0 would round onto a neighbour as a number: never stored, never found.
  t.throws(() => reg.addSites(1n << 53n, [{ offset: 0xff0, code: 'BadSignature' }]), { name: 'RuntimeError' });
  t.throws(() => reg.addSites(high, [{ offset: 0x1000, code: 'BadSignature' }]), { name: 'RuntimeError' });
  t.is(reg.codeAt((1n << 53n) + 0xff0n), undefined);
  t.is(reg.codeAt((1n << 64n) - 1n), undefined);
  t.is(reg.codeAt(-1n), undefined);
});

test('guest faults are classified by trap table, stack guard, memory range; others stay GuestTraps', async (t) => {
  const m = await Machine.create({ arch: 'x64' });
  const reg = new TrapRegistry();
  reg.addSites(0x1000n, [{ offset: 0x10, code: 'BadSignature' }, { offset: 0x20, code: 'IntegerOverflow' }]);
  reg.addMemoryRange(0x10_0000_0000n, 0x10_8000_0000n);
  const fault = (kind: GuestTrap['kind'], pc: bigint, address?: bigint) => new GuestTrap({ kind, pc, address, backtrace: [{ pc, fp: 0n }] });
  const code = (e: unknown) => (e instanceof WasmTrap ? e.code : e);
  t.is(code(reg.classify(fault('invalid-instruction', 0x1010n), m)), 'BadSignature');
  t.is(code(reg.classify(fault('divide-error', 0x1020n), m)), 'IntegerOverflow', 'a listed site wins over the fault kind');
  t.is(code(reg.classify(fault('divide-error', 0x1030n), m)), 'IntegerDivisionByZero');
  t.is(code(reg.classify(fault('stack-guard', 0x5000n), m)), 'StackOverflow');
  t.is(code(reg.classify(fault('read-unmapped', 0x5000n, 0x10_0000_0100n), m)), 'MemoryOutOfBounds');
  const wild = fault('write-unmapped', 0x5000n, 0x20n);
  t.is(reg.classify(wild, m), wild, 'a fault outside Wasm memory is not a Wasm trap');
  // A load or store left to the guard pages is a listed MemoryOutOfBounds site: its fault inside
  // the memory's range is the trap at that PC; outside it, no Wasm trap even there.
  reg.addSites(0x1000n, [{ offset: 0x30, code: 'MemoryOutOfBounds' }]);
  const guarded = reg.classify(fault('write-unmapped', 0x1030n, 0x10_7fff_fffcn), m) as WasmTrap;
  t.deepEqual([guarded.code, guarded.pc], ['MemoryOutOfBounds', 0x1030n]);
  const stray = fault('read-unmapped', 0x1030n, 0x40n);
  t.is(reg.classify(stray, m), stray, 'a listed access that faults outside every memory is not a Wasm trap');
  const timeout = fault('timeout', 0x5000n);
  t.is(reg.classify(timeout, m), timeout);
  const plain = new Error('host');
  t.is(reg.classify(plain, m), plain);
  // A trap raised by a builtin gets the exit PC recorded by its stub.
  const fromBuiltin = reg.classify(new WasmTrap({ code: 'TableOutOfBounds' }), m, { pc: 0x1234n, fp: 0n }) as WasmTrap;
  t.is(fromBuiltin.pc, 0x1234n);
  t.is(fromBuiltin.code, 'TableOutOfBounds');
  t.regex(fromBuiltin.message, /out of bounds table access.*at pc 0x1234/);
  t.is(normalizeTrapCode('HeapOutOfBounds'), 'MemoryOutOfBounds');
  t.is(normalizeTrapCode('BadSignature'), 'BadSignature');
  t.is(normalizeTrapCode('Nonsense'), undefined);
  m.close();
});
