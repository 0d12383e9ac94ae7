import test from 'ava';
import fc from 'fast-check';
import { Engine, Store, Module, Instance, WasmTrap, type Val } from '../index.ts';
import { compileModule, V17_MEMORY_TUNABLES } from '../compiler/index.ts';
import { parseWat } from '../compiler/frontend/index.ts';
import { createDisassembler } from '../isa/disasm.ts';
import { MemoryReservationError } from './memory.ts';
import { ARCHES } from './testing.ts';
import type { Arch } from '../isa/arch.ts';
import type { RegallocMode } from '../compiler/index.ts';

// Linear-memory bounds under v17's tunables: most accesses have no explicit check, and the
// access's own fault in the unmapped reservation or guard is the trap (at the access's PC).

/** Every load and store, as [name, bytes, Wasm text of the access with `offset`]. */
const LOADS: ReadonlyArray<readonly [string, number, string, 'i32' | 'i64']> = [
  ['i32.load', 4, 'i32.load', 'i32'], ['i64.load', 8, 'i64.load', 'i64'],
  ['i32.load8_s', 1, 'i32.load8_s', 'i32'], ['i32.load8_u', 1, 'i32.load8_u', 'i32'],
  ['i32.load16_s', 2, 'i32.load16_s', 'i32'], ['i32.load16_u', 2, 'i32.load16_u', 'i32'],
  ['i64.load8_s', 1, 'i64.load8_s', 'i64'], ['i64.load8_u', 1, 'i64.load8_u', 'i64'],
  ['i64.load16_s', 2, 'i64.load16_s', 'i64'], ['i64.load16_u', 2, 'i64.load16_u', 'i64'],
  ['i64.load32_s', 4, 'i64.load32_s', 'i64'], ['i64.load32_u', 4, 'i64.load32_u', 'i64'],
  ['f32.load', 4, 'f32.load', 'i32'], ['f64.load', 8, 'f64.load', 'i64'],
];
const STORES: ReadonlyArray<readonly [string, number, 'i32' | 'i64']> = [
  ['i32.store', 4, 'i32'], ['i64.store', 8, 'i64'], ['i32.store8', 1, 'i32'], ['i32.store16', 2, 'i32'],
  ['i64.store8', 1, 'i64'], ['i64.store16', 2, 'i64'], ['i64.store32', 4, 'i64'], ['f32.store', 4, 'i32'], ['f64.store', 8, 'i64'],
];
/** Offsets: none, one page, the largest v17 leaves to the guard, and two that v17 checks against its 4 GiB bound. */
const OFFSETS = [0, 0x1_0000, 0x7fff_fff0, 0x8000_0000, 0xffff_fff8];

function accessModule(): string {
  const funcs: string[] = [];
  for (const off of OFFSETS) {
    for (const [name, , , t] of LOADS) {
      const load = `(${name} offset=${off} (local.get 0))`;
      const body = name === 'f32.load' ? `(i32.reinterpret_f32 ${load})` : name === 'f64.load' ? `(i64.reinterpret_f64 ${load})` : load;
      funcs.push(`(func (export "${name}/${off}") (param i32) (result ${t}) ${body})`);
    }
    for (const [name, , t] of STORES) {
      const value = name === 'f32.store' ? '(f32.reinterpret_i32 (local.get 1))' : name === 'f64.store' ? '(f64.reinterpret_i64 (local.get 1))' : '(local.get 1)';
      funcs.push(`(func (export "${name}/${off}") (param i32 ${t}) (${name} offset=${off} (local.get 0) ${value}))`);
    }
  }
  return `(module (memory (export "mem") 1 3)
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
    ${funcs.join('\n    ')})`;
}

interface Fixture {
  readonly store: Store;
  readonly module: Module;
  readonly inst: Instance;
  /** The guest addresses of each exported function's HeapOutOfBounds trap sites. */
  readonly sites: Map<string, bigint[]>;
  /** The guest address → the instruction text there. */
  readonly insn: (pc: bigint) => string;
}

async function fixture(arch: Arch, regalloc: RegallocMode, source = accessModule(), config: Partial<ConstructorParameters<typeof Engine>[0]> = {}): Promise<Fixture> {
  const engine = new Engine({ arch, regalloc, ...config });
  const store = await Store.create(engine);
  const module = await Module.fromWat(engine, source);
  const inst = Instance.create(store, module);
  const textBase = store.textBaseOf(module)!;
  const sites = new Map<string, bigint[]>();
  for (const e of module.wasm.exports) {
    if (e.kind !== 'func') continue;
    const fn = module.code.functions.find((f) => f.funcIndex === e.index)!;
    sites.set(e.name, module.code.traps
      .filter((s) => s.code === 'HeapOutOfBounds' && s.textOffset >= fn.textOffset && s.textOffset < fn.textOffset + fn.size)
      .map((s) => textBase + BigInt(s.textOffset)));
  }
  const dis = createDisassembler(arch);
  const insn = (pc: bigint): string => dis.disasm(store.machine.readBytes(pc, 16), pc, { count: 1 })[0]?.text ?? '?';
  return { store, module, inst, sites, insn };
}

const u32 = (n: number): number => n | 0;
const PAGE = 0x1_0000;

/** Calls `name` expecting MemoryOutOfBounds at one of its trap sites; returns the PC. */
function expectOob(t: import('ava').ExecutionContext, f: Fixture, name: string, args: Val[]): bigint {
  const e = t.throws(() => f.inst.getFunc(name).call(...args), undefined, `${name}(${args.join(', ')})`);
  t.true(e instanceof WasmTrap, `${name}: ${String(e)}`);
  const trap = e as WasmTrap;
  t.is(trap.code, 'MemoryOutOfBounds', name);
  t.true(f.sites.get(name)!.includes(trap.pc!), `${name}: pc ${trap.pc?.toString(16)} is one of its HeapOutOfBounds sites`);
  return trap.pc!;
}

const CONFIGS = ARCHES.flatMap((arch) => (['none', 'linear-scan'] as const).map((regalloc) => ({ arch, regalloc })));

for (const { arch, regalloc } of CONFIGS) {
  test(`${arch} ${regalloc}: out-of-bounds loads and stores of every width trap at the access, before and after memory.grow`, async (t) => {
    const f = await fixture(arch, regalloc);
    const mem = f.inst.getMemory('mem');
    const canary = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
    for (const pages of [1, 2]) {
      const len = pages * PAGE;
      mem.write(len - 16, canary);
      for (const off of OFFSETS) {
        for (const [name, size] of [...LOADS.map(([n, s]) => [n, s] as const), ...STORES.map(([n, s]) => [n, s] as const)]) {
          const unchecked = off + size <= 0x8000_0001;
          const fn = `${name}/${off}`;
          const isStore = name.includes('store');
          const args = (addr: number): Val[] => (isStore ? [u32(addr), name.startsWith('i64') || name === 'f64.store' ? -1n : -1] : [u32(addr)]);
          // The spec's rule: trap exactly when addr + offset + size > the memory's length.
          if (off + size <= len) {
            const last = len - size - off;
            t.notThrows(() => f.inst.getFunc(fn).call(...args(last)), `${fn} at the last in-bounds address`);
            mem.write(len - 16, canary);
          }
          const trapping = [len - off - size + 1, len - off, 0xffff_ffff].filter((a) => a >= 0 && a <= 0xffff_ffff);
          if (off + size > len) trapping.push(0);
          for (const addr of trapping) {
            const pc = expectOob(t, f, fn, args(addr));
            if (unchecked) {
              // No explicit check: the only site is the access, and the trap is its fault.
              t.deepEqual(f.sites.get(fn), [pc], fn);
              t.regex(f.insn(pc), arch === 'x64' ? /^mov/ : /^(ldr|str)/, `${fn}: ${f.insn(pc)}`);
            }
            // A store that traps writes nothing, straddling ones included.
            t.deepEqual([...mem.read(len - 16, 16)], [...canary], `${fn}(${addr}) left memory as it was`);
          }
        }
      }
      if (pages === 1) t.is(f.inst.getFunc('grow').call(1), 1);
    }
    f.store.close();
  });
}

for (const arch of ARCHES) {
  test(`${arch}: property — compiled accesses agree with the spec's bounds rule (both modes)`, async (t) => {
    const fixtures = await Promise.all((['none', 'linear-scan'] as const).map((r) => fixture(arch, r)));
    const ops = [...LOADS.map(([n, s]) => ({ name: n, size: s, store: false })), ...STORES.map(([n, s]) => ({ name: n, size: s, store: true }))];
    const address = fc.oneof(
      fc.integer({ min: 0, max: 0xffff_ffff }),
      fc.integer({ min: PAGE - 16, max: PAGE + 16 }),
      fc.integer({ min: 2 * PAGE - 16, max: 2 * PAGE + 16 }),
      fc.integer({ min: 0, max: 64 }),
    );
    fc.assert(fc.property(
      fc.constantFrom(...ops), fc.constantFrom(...OFFSETS), address, fc.boolean(), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      (op, off, addr, grown, bits) => {
        for (const f of fixtures) {
          const mem = f.inst.getMemory('mem');
          if (grown && mem.size() === 1) f.inst.getFunc('grow').call(1);
          const len = mem.size() * PAGE;
          const ea = addr + off;
          const inBounds = ea + op.size <= len;
          const fn = `${op.name}/${off}`;
          const wide = op.name.startsWith('i64') || op.name === 'f64.store' || op.name === 'f64.load';
          const value: Val = wide ? BigInt.asIntN(64, bits) : Number(BigInt.asIntN(32, bits));
          let outcome: 'ok' | 'oob';
          let result: Val | undefined;
          try {
            result = f.inst.getFunc(fn).call(...(op.store ? [u32(addr), value] : [u32(addr)])) as Val;
            outcome = 'ok';
          } catch (e) {
            if (!(e instanceof WasmTrap) || e.code !== 'MemoryOutOfBounds' || !f.sites.get(fn)!.includes(e.pc!)) throw e;
            outcome = 'oob';
          }
          if (outcome !== (inBounds ? 'ok' : 'oob')) return false;
          if (!inBounds) continue;
          const bytes = mem.read(ea, op.size);
          const raw = bytes.reduceRight((acc, b) => (acc << 8n) | BigInt(b), 0n);
          if (op.store) {
            if (raw !== BigInt.asUintN(op.size * 8, bits)) return false;
          } else {
            const signed = op.name.endsWith('_s');
            const v = signed ? BigInt.asIntN(op.size * 8, raw) : raw;
            const want = wide ? BigInt.asIntN(64, v) : Number(BigInt.asIntN(32, v));
            if (result !== want) return false;
          }
        }
        return true;
      },
    ), { numRuns: 300, seed: 17 });
    t.pass();
    for (const f of fixtures) f.store.close();
  });

  test(`${arch}: a small reservation brings explicit checks back; images record their tunables and refuse memories that fall short`, async (t) => {
    // 16 pages of reservation: a memory with a maximum ≤ 16 pages is static with a 1 MiB bound
    // (checked against that constant), one without a maximum is dynamic (checked against its length).
    const small = { memoryReservationPages: 16, memoryGuardBytes: 0x1_0000n };
    const source = `(module (memory (export "mem") 1 16)
      (func (export "load") (param i32) (result i32) (i32.load offset=8 (local.get 0))))`;
    const f = await fixture(arch, 'linear-scan', source, small);
    t.deepEqual(f.module.code.memoryTunables, { reservation: 16n * 0x1_0000n, guard: 0x1_0000n });
    t.is(f.inst.getFunc('load').call(PAGE - 12), 0);
    const pc = expectOob(t, f, 'load', [PAGE - 11]);
    const trapInsn = arch === 'x64' ? /^ud2/ : /^udf/;
    const [access, check] = f.sites.get('load')!;
    t.is(f.sites.get('load')!.length, 2, 'the access and an explicit check');
    t.is(pc, access, 'beyond the accessible bytes, inside the bound: the access faults');
    t.regex(f.insn(access), /^(mov|ldr)/);
    t.regex(f.insn(check), trapInsn);
    t.is(expectOob(t, f, 'load', [16 * PAGE]), check, 'beyond the 1 MiB bound: the explicit check');
    f.store.close();

    const dynamic = await fixture(arch, 'none', `(module (memory 1)
      (func (export "load") (param i32) (result i32) (i32.load (local.get 0))))`, small);
    const [, dynamicCheck] = dynamic.sites.get('load')!;
    t.is(expectOob(t, dynamic, 'load', [PAGE - 3]), dynamicCheck, 'checked against current_length');
    t.regex(dynamic.insn(dynamicCheck), trapInsn);
    dynamic.store.close();

    // The cycle model's runs report the same PC.
    const timed = await fixture(arch, 'linear-scan', source, { cycles: { mode: 'fast' } });
    const [timedAccess] = timed.sites.get('load')!;
    t.is(expectOob(t, timed, 'load', [PAGE - 11]), timedAccess);
    timed.store.close();

    // Round trip: the image bytes carry the tunables; an engine with less address space refuses them.
    const wasm = await parseWat(source);
    const image = compileModule(wasm, { arch });
    t.deepEqual(image.memoryTunables, V17_MEMORY_TUNABLES);
    const roomy = new Engine({ arch });
    t.deepEqual(Module.fromImage(roomy, image.elf).code.memoryTunables, V17_MEMORY_TUNABLES);
    const cramped = new Engine({ arch, ...small });
    t.throws(() => Module.fromImage(cramped, image.elf), { instanceOf: MemoryReservationError, message: /4294967296-byte reservation/ });
    const lessGuard = new Engine({ arch, memoryGuardBytes: 1n << 20n });
    t.throws(() => Module.fromImage(lessGuard, image.elf), { instanceOf: MemoryReservationError });
    // Code compiled for the small reservation runs anywhere with at least that much.
    const smallImage = compileModule(wasm, { arch, memoryTunables: cramped.memoryTunables });
    const roomyStore = await Store.create(roomy);
    const inst = Instance.create(roomyStore, Module.fromImage(roomy, smallImage.elf));
    t.is(inst.getFunc('load').call(0), 0);
    roomyStore.close();

    // An imported memory is checked at instantiation: code compiled for 4 GiB cannot use a
    // memory created with a 16-page reservation.
    const importer = compileModule(await parseWat(`(module (import "m" "mem" (memory 1 16))
      (func (export "load") (param i32) (result i32) (i32.load (local.get 0))))`), { arch });
    const crampedStore = await Store.create(cramped);
    const memory = Instance.create(crampedStore, await Module.fromWat(cramped, '(module (memory (export "mem") 1 16))')).getMemory('mem');
    const module = Module.fromImage(cramped, importer.elf);
    t.throws(() => Instance.create(crampedStore, module, [memory]), { instanceOf: MemoryReservationError, message: /import memory 0/ });
    crampedStore.close();
  });
}
