import { Instance } from '../../index.ts';
import type { ExampleContext } from '../harness.ts';

export function run({ store, module, print }: ExampleContext): void {
  const instance = Instance.create(store, module);
  const fib = instance.getFunc('fib');
  const fibIter = instance.getFunc('fib_iter');
  const calls = instance.getGlobal('calls');
  for (const n of [0, 1, 2, 10, 20]) {
    calls.set(0n);
    const r = fib.call(n);
    print(`fib(${n}) = ${r}   (${calls.get()} calls)`);
  }
  for (const n of [50, 90, 93]) print(`fib_iter(${n}) = ${fibIter.call(n)}`);
  print('fib_iter(93) wraps: i64 arithmetic is modulo 2^64, read back as signed');
}
