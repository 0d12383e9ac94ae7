/**
 * Functions larger than AArch64's ±1 MiB conditional-branch reach compile and run on both
 * arches: forward branches past 1 MiB go through veneers in islands, backward ones become an
 * inverted branch around `b` (isa/code-buffer.ts islandCheckpoint, isa/aarch64/encoder.ts).
 */
import test from 'ava';
import { Engine, Instance, Module, Store } from '../index.ts';
import { ARCHES } from './testing.ts';

const ENTRIES = 100_000;
/** Entry k of the table: back to the loop head (depth 3) for k % 4 = 3, else block k % 3. */
const depthOf = (k: number): number => (k % 4 === 3 ? 3 : k % 3);

// pick(x): x += 1, then a 100,000-entry br_table (≈ 1.2 MiB of compare-and-branch on AArch64)
// either leaves one of three blocks (10, 11, 12) or branches back, more than 1 MiB, to the loop.
const WAT = `(module (func (export "pick") (param i32) (result i32)
  loop $top
    local.get 0 i32.const 1 i32.add local.set 0
    block block block
      local.get 0
      br_table ${Array.from({ length: ENTRIES }, (_, k) => depthOf(k)).join(' ')} 2
    end i32.const 10 return
    end i32.const 11 return
    end i32.const 12 return
  end
  unreachable))`;

/** The same function, in JS. */
function pick(x: number): number {
  for (;;) {
    x += 1;
    const depth = x < ENTRIES ? depthOf(x) : 2;
    if (depth < 3) return 10 + depth;
  }
}

for (const arch of ARCHES) {
  test(`${arch}: a function of more than 1 MiB (a 100,000-entry br_table, branches back over it) compiles and runs`, async (t) => {
    const engine = new Engine({ arch, timeoutMs: 60_000 });
    const store = await Store.create(engine);
    try {
      const module = await Module.fromWat(engine, WAT);
      const inst = Instance.create(store, module);
      const f = inst.getFunc('pick');
      for (const x of [0, 1, 5, 2_001, 99_994, 99_997, ENTRIES - 1, ENTRIES + 7]) t.is(f.call(x), pick(x), `pick(${x})`);
      t.true(depthOf(99_995) === 3 && pick(99_994) === 10, 'pick(99,994) takes the back edge from entry 99,995');
    } finally {
      store.close();
    }
  });
}
