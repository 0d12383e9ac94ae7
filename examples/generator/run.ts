import { V44ExternRef, V44Func, V44Instance, type V44Store } from '../../index.ts';
import { renderDrc44Explanation } from '../../gc/drc44/v44-collector.ts';
import type { ExampleContext } from '../harness.ts';

/**
 * The consumer (main) resumes the producer, which suspends with each new item; after each item
 * the host collects with the explanation: the producer's frame on its suspended stack keeps its
 * `$batch`, the consumed item is freed.
 */
export async function run(ctx: ExampleContext<V44Store>): Promise<void> {
  const { store, module, print } = ctx;
  let gcs = 0;
  const newRef = V44Func.new(store, { params: ['i32'], results: ['externref'] }, (_c, n) => V44ExternRef.new(store, `item ${String(n)}`));
  const consume = V44Func.new(store, { params: ['externref'], results: [] }, (_c, r) => {
    print(`consume: ${JSON.stringify((r as V44ExternRef | null)?.value ?? null)}`);
  });
  const gc = V44Func.new(store, { params: [], results: [] }, () => {
    const report = store.gc({ explain: true });
    print(`== GC ${++gcs}: ${report.stacks} stacks, ${report.frames} frames ==`);
    print(renderDrc44Explanation(report.explanation!));
  });
  const instance = V44Instance.create(store, module, [newRef, consume, gc]);
  const result = instance.getFunc('main').call();
  print(`main returned ${String(result)}; ${store.continuations.length} continuation(s) made, ${store.gcHeap.liveObjects().length} object(s) live`);
}
