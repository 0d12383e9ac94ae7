import { Func, Instance, Memory } from '../../index.ts';
import type { ExampleContext } from '../harness.ts';

export function run({ store, module, print }: ExampleContext): void {
  const mulAdd = Func.wrap(store, { params: ['i64', 'i64', 'i64'], results: ['i64'] }, function mulAdd(_caller, a, b, c) {
    const r = (a as bigint) * (b as bigint) + (c as bigint);
    print(`  host mul_add(${a}, ${b}, ${c}) = ${r}   (Wasm depth ${store.wasmDepth})`);
    return r;
  });
  const printFn = Func.new(store, { params: ['i32', 'i32'], results: [] }, function printString(caller, ptr, len) {
    const memory = caller.getExport('memory');
    if (!(memory instanceof Memory)) throw new Error('the caller exports no memory');
    const text = Buffer.from(memory.read(ptr as number, len as number)).toString('utf8');
    print(`  host print(${ptr}, ${len}): ${JSON.stringify(text)}`);
  });
  const instance = Instance.create(store, module, [mulAdd, printFn]);
  print('greet():');
  instance.getFunc('greet').call();
  print('poly(5):');
  const r = instance.getFunc('poly').call(5);
  print(`poly(5) = ${r}`);
  print(`poly(0) = ${instance.getFunc('poly').call(0)}   (no host call)`);
  print(`Wasm depth back in the host: ${store.wasmDepth}`);
}
