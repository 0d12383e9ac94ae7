import { ExternRef, Func, Instance } from '../../index.ts';
import type { ExampleContext } from '../harness.ts';

export function run({ store, module, print }: ExampleContext): void {
  let onDrop: Func | undefined;
  let sweeping = false;
  const note = Func.wrap(store, { params: ['i32'], results: [] }, function note(_caller, id) {
    print(`      note(${id as number}) from $on_drop: Wasm depth ${store.wasmDepth}`);
    if (sweeping) {
      const nested = store.collector.collect({ reason: 'host' });
      print(`      a GC requested here: ${nested.skipped === 'reentrant' ? 'returned at once, a collection is already running' : 'ran'}`);
    }
  });
  const instance = Instance.create(store, module, [note]);
  onDrop = instance.getFunc('on_drop');
  let nextId = 1;
  const make = (name: string): ExternRef => {
    const id = nextId++;
    return ExternRef.new(store, name, (value) => {
      print(`    destructor of ${JSON.stringify(value)} (Wasm depth ${store.wasmDepth}) calls on_drop(${id})`);
      const drops = onDrop!.call(id);
      print(`    on_drop(${id}) returned ${drops as number}`);
    });
  };
  const replace = instance.getFunc('replace');

  print('1. A destructor run by compiled code (table.set -> drop_externref):');
  const a = make('A');
  replace.call(0, a);
  a.release();
  store.gc(); // the activations table lets go of A; only table slot 0 holds it now
  const peek = instance.getTable('slots').get(0) as ExternRef;
  print(`  slot 0 holds ${JSON.stringify(peek.value)}, count ${peek.strongCount() - 1} (besides this check's handle)`);
  peek.release();
  const b = make('B');
  print('  replace(0, B):');
  replace.call(0, b);
  b.release();
  print(`  replace returned; Wasm depth ${store.wasmDepth}, drops = ${instance.getGlobal('drops').get() as number}`);

  print('2. A destructor run by the GC sweep:');
  const c = make('C');
  instance.getFunc('ignore').call(c); // passing C into Wasm puts a count in the activations table
  c.release(); // now only the activations table holds C
  print('  store.gc():');
  sweeping = true;
  const r = store.gc();
  sweeping = false;
  print(`  store.gc() returned: ${r?.freedCount ?? 0} freed; drops = ${instance.getGlobal('drops').get() as number}`);

  print('3. Clearing the table from the host:');
  instance.getTable('slots').set(0, null);
  print(`  drops = ${instance.getGlobal('drops').get() as number}`);
}
