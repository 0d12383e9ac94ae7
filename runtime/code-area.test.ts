/**
 * StoreOptions.sharedCodeArea (runtime/place.ts CodeArea): the text of many modules side by
 * side in one executable chunk gives the same results, traps, backtraces and collections as one
 * mapping per module, and maps no region per module.
 */
import test from 'ava';
import { Engine, ExternRef, Func, Instance, Module, Store, WasmTrap } from './api.ts';
import { CodeArea, placeModuleCode, relocatedText } from './place.ts';
import { link, segmentBytes } from '../loader/link.ts';

/** Module k: an externref kept live across a host call that collects, then a call that traps when asked. */
const wat = (k: number) => `(module $m${k}
  (import "host" "gc" (func $gc))
  (func $boom (export "boom") (param i32) (result i32)
    (if (local.get 0) (then unreachable))
    (i32.add (local.get 0) (i32.const ${k})))
  (func (export "keep") (param externref) (result externref)
    (call $gc)
    (drop (call $boom (i32.const 0)))
    (local.get 0)))`;

for (const arch of ['x64', 'aarch64'] as const) {
  test(`${arch}: modules in a shared code area run, trap, symbolize and collect as modules mapped one by one`, async (t) => {
    const engine = new Engine({ arch });
    const modules = await Promise.all([1, 2, 3].map((k) => Module.fromWat(engine, wat(k))));
    const outcome = async (sharedCodeArea: boolean) => {
      const store = await Store.create(engine, { sharedCodeArea });
      try {
        const lines: string[] = [];
        const gc = Func.wrap(store, { params: [], results: [] }, () => void store.gc());
        for (const module of modules) {
          const instance = Instance.create(store, module, [gc]);
          const held = ExternRef.new(store, 'held');
          const back = instance.getFunc('keep').call(held) as ExternRef;
          lines.push(`keep ${back.value as string} count ${back.strongCount()}`);
          back.release();
          held.release();
          try {
            instance.getFunc('boom').call(1);
            lines.push('boom returned');
          } catch (e) {
            if (!(e instanceof WasmTrap)) throw e;
            lines.push(`trap ${e.code} at ${e.backtrace[0]?.symbol?.replace(/\+0x[0-9a-f]+$/, '')}`);
          }
        }
        store.gc();
        const regions = store.machine.allRegions().map((r) => r.name);
        return { lines, regions };
      } finally {
        store.close();
      }
    };
    const shared = await outcome(true);
    const mapped = await outcome(false);
    t.deepEqual(shared.lines, mapped.lines);
    t.is(shared.lines.filter((l) => l === 'trap UnreachableCodeReached at m2!boom').length, 1, shared.lines.join('\n'));
    t.is(shared.regions.filter((n) => n.startsWith('module-code#')).length, 1, shared.regions.join(' '));
    t.false(shared.regions.some((n) => n.endsWith(':text') || n.endsWith(':custom')), shared.regions.join(' '));
    t.is(mapped.regions.filter((n) => n.endsWith(':text')).length, 3, mapped.regions.join(' '));
  });
}

test('a code area maps another chunk when an image does not fit the current one', async (t) => {
  const engine = new Engine({ arch: 'x64' });
  // Text larger than the area's 16 KiB chunks: 12 functions of 200 adds each.
  const body = Array.from({ length: 200 }, () => '(local.set 0 (i32.add (local.get 0) (i32.const 7)))').join(' ');
  const big = await Module.fromWat(engine, `(module ${Array.from({ length: 12 }, (_, i) => `(func (export "f${i}") (param i32) (result i32) ${body} (local.get 0))`).join(' ')})`);
  const small = await Module.fromWat(engine, '(module (func (export "f0") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1))))');
  const store = await Store.create(engine);
  try {
    const area = new CodeArea(store.machine, 'small-area', 16 * 1024);
    const place = (m: Module) => placeModuleCode(store.machine, m.wasm, m.code, undefined, undefined, area);
    const a = place(small);
    const b = place(big);
    const c = place(small);
    t.true(b.textBase > a.textBase && c.textBase > b.textBase);
    const chunks = store.machine.allRegions().filter((r) => r.name.startsWith('small-area#'));
    // The big image needed a chunk of its own size; the next small one a new 16 KiB chunk.
    t.deepEqual(chunks.map((r) => r.size > 16 * 1024), [false, true, false], chunks.map((r) => `${r.name} ${r.size}`).join(' '));
    // Modules compiled here are placed without the ELF round trip, byte for byte what linking
    // their ELF objects there gives (the text page padded as the linker pads it).
    for (const [placed, m] of [[a, small], [b, big], [c, small]] as const) {
      t.is(placed.linked, undefined);
      const linked = link([{ file: 'm.o', bytes: m.code.elf }], { base: placed.textBase });
      const text = linked.segments.find((s) => s.kind === 'text')!;
      t.deepEqual(new Uint8Array(store.machine.readBytes(text.address, Number(text.size))), new Uint8Array(segmentBytes(linked, text)));
    }
    // A module from an image's bytes goes through its ELF object, to the same bytes.
    const fromImage = Module.fromImage(engine, big.code.elf);
    const d = place(fromImage);
    t.not(d.linked, undefined);
    t.deepEqual(new Uint8Array(store.machine.readBytes(d.textBase, d.text.length)), relocatedText(big.image!, d.textBase));
  } finally {
    store.close();
  }
});
