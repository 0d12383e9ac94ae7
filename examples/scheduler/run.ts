import { V44ExternRef, V44Func, V44Instance, type V44Store } from '../../index.ts';
import { renderDrc44Explanation } from '../../gc/drc44/v44-collector.ts';
import type { ExampleContext } from '../harness.ts';

/**
 * Three tasks, each a continuation holding its own externref, run round-robin by the scheduler
 * on the initial stack; task 1 collects in its second round: the running task, the scheduler's
 * frames (the parent stack) and the two suspended tasks are walked, the temporaries freed.
 */
export async function run(ctx: ExampleContext<V44Store>): Promise<void> {
  const { store, module, print } = ctx;
  const newRef = V44Func.new(store, { params: ['i32'], results: ['externref'] }, (_c, n) => V44ExternRef.new(store, `ref ${String(n)}`));
  const log = V44Func.new(store, { params: ['i32', 'externref'], results: [] }, (_c, id, r) => {
    print(`task ${String(id)} holds ${JSON.stringify((r as V44ExternRef | null)?.value ?? null)}`);
  });
  const gc = V44Func.new(store, { params: [], results: [] }, () => {
    const report = store.gc({ explain: true });
    print(`== GC in task 1: ${report.stacks} stacks, ${report.frames} frames, ${report.freed.length} freed ==`);
    print(renderDrc44Explanation(report.explanation!));
  });
  const instance = V44Instance.create(store, module, [newRef, log, gc]);
  const turns = instance.getFunc('main').call();
  print(`main returned after ${String(turns)} scheduler turns; ${store.continuations.length} continuations made`);
}
