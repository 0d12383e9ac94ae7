import { ExternRef, Func, Instance, type Table } from '../../index.ts';
import type { GcReport } from '../../gc/collector.ts';
import { renderGc, summarizeGc, type ExampleContext } from '../harness.ts';

export const LEVELS = 3;

/**
 * Fills the tables, calls descend(LEVELS - 1), and at the bottom runs a GC with the collector's
 * explanation. `onGc` lets the demo print the explanation its own way.
 */
export async function run(ctx: ExampleContext, onGc?: (report: GcReport) => void): Promise<void> {
  const { store, module, print } = ctx;
  let report: GcReport | undefined;
  const gc = Func.wrap(store, { params: [], results: [] }, function gc() {
    print(`host gc(): Wasm depth ${store.wasmDepth}, collecting with explain`);
    report = store.collector.collect({ reason: 'host', explain: true });
    if (onGc) onGc(report);
    else print(renderGc(report));
  });
  const check = Func.wrap(store, { params: ['i32', 'externref'], results: [] }, function check(_caller, n, ref) {
    const r = ref as ExternRef | null;
    print(`check(${n as number}): frame still holds ${r === null ? 'null' : JSON.stringify(r.value)} (count ${r?.strongCount() ?? 0})`);
  });
  const instance = Instance.create(store, module, [gc, check]);
  const held = instance.getTable('held') as Table;
  const temps = instance.getTable('temps') as Table;
  for (let i = 0; i < LEVELS; i++) {
    // The table takes its own count; the host's handle is released, so the table is the only holder.
    const h = ExternRef.new(store, `held by level ${i}`);
    held.set(i, h);
    h.release();
    const tmp = ExternRef.new(store, `temporary of level ${i}`);
    temps.set(i, tmp);
    tmp.release();
  }
  print(`descend(${LEVELS - 1}) on ${ctx.arch}`);
  const result = instance.getFunc('descend').call(LEVELS - 1);
  print(`descend returned ${result as number}`);
  const after = store.gc();
  print(`back in the host, store.gc(): ${after ? summarizeGc(after) : 'no report'}`);
}
