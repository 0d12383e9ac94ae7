import { V44ExternRef, V44Func, V44Instance, type V44Store } from '../../index.ts';
import { renderDrc44Explanation } from '../../gc/drc44/v44-collector.ts';
import type { ExampleContext } from '../harness.ts';

/**
 * Three workers made by cont.new and numbered by cont.bind pass a baton around a ring with
 * symmetric `switch`, the ring a table of continuation references; the worker that gets baton 0
 * collects: its own stack, main's (the parent holding the switch handler) and the two suspended
 * workers named only by the table are walked, every temporary freed.
 */
export async function run(ctx: ExampleContext<V44Store>): Promise<void> {
  const { store, module, print } = ctx;
  const ref = V44Func.new(store, { params: ['i32'], results: ['externref'] }, (_c, n) => V44ExternRef.new(store, `ref ${String(n)}`));
  const printI32 = V44Func.new(store, { params: ['i32'], results: [] }, (_c, v) => {
    const n = Number(v);
    print(`worker ${Math.floor(n / 100)} has the baton: ${n % 100}`);
  });
  const printRef = V44Func.new(store, { params: ['externref'], results: [] }, (_c, r) => {
    print(`the last worker still holds ${JSON.stringify((r as V44ExternRef | null)?.value ?? null)}`);
  });
  const gc = V44Func.new(store, { params: [], results: [] }, () => {
    const report = store.gc({ explain: true });
    print(`== GC in the worker with baton 0: ${report.stacks} stacks, ${report.frames} frames, ${report.freed.length} freed ==`);
    print(renderDrc44Explanation(report.explanation!));
  });
  const instance = V44Instance.create(store, module, [ref, printI32, printRef, gc]);
  const ring = instance.getFunc('main').call();
  print(`main's resume returned; ring of ${String(ring)}; ${store.continuations.length} continuations made`);
}
