import { ExternRef, Func, Instance, type Table } from '../../index.ts';
import type { ExampleContext } from '../harness.ts';

interface Fruit { name: string; weight: number }

export function run({ store, module, print }: ExampleContext): void {
  const weight = Func.wrap(store, { params: ['externref'], results: ['i32'] }, function weight(_caller, x) {
    return ((x as ExternRef).value as Fruit).weight;
  });
  const instance = Instance.create(store, module, [weight]);
  const f = (name: string) => instance.getFunc(name);
  const nodes = instance.getTable('nodes') as Table;
  const fruits: ExternRef[] = [
    { name: 'apple', weight: 150 }, { name: 'banana', weight: 120 }, { name: 'cherry', weight: 8 },
    { name: 'damson', weight: 30 }, { name: 'elderberry', weight: 1 },
  ].map((v) => ExternRef.new(store, v));
  const counts = () => fruits.map((x) => `${(x.value as Fruit).name} ${x.strongCount()}`).join(', ');
  const order = () => {
    const names: string[] = [];
    for (let i = 0; ; i++) {
      const x = f('nth').call(i) as ExternRef | null;
      if (x === null) break;
      names.push((x.value as Fruit).name);
      x.release();
    }
    return names.join(' -> ');
  };
  for (const x of fruits) print(`push(${(x.value as Fruit).name}) = node ${f('push').call(x) as number}`);
  print(`table size ${nodes.size()}, length() = ${f('length').call()}`);
  print(`list: ${order()}`);
  print(`total() = ${f('total').call()} (the host read each value)`);
  print(`counts (host handle + table element + activations-table entries): ${counts()}`);
  store.gc();
  print(`after store.gc() with no Wasm running (the activations table lets go): ${counts()}`);
  f('reverse').call();
  print(`reverse(): ${order()}`);
  for (let i = 0; i < 2; i++) {
    const x = f('pop').call() as ExternRef;
    print(`pop() = ${(x.value as Fruit).name}`);
    x.release();
  }
  print(`list: ${order()}; length() = ${f('length').call()}, table size still ${nodes.size()} (popped slots hold null)`);
  store.gc();
  print(`after store.gc(): ${counts()}`);
  for (const x of fruits) x.release();
  print(`the host released its handles; the list still holds ${f('length').call()} nodes, total() = ${f('total').call()}`);
}
