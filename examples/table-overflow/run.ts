import { ExternRef, Func, Instance, type Table } from '../../index.ts';
import type { GcReport } from '../../gc/collector.ts';
import { summarizeGc, type ExampleContext } from '../harness.ts';

export function run({ store, module, print }: ExampleContext): void {
  // The collector's last report changes identity whenever a collection ran; probe(i) runs
  // after every table.get (i = -1 after the one of $keep), so it sees each collection right
  // after the get that caused it.
  let seen: GcReport | undefined = store.collector.lastReport;
  const probe = Func.wrap(store, { params: ['i32'], results: [] }, function probe(_caller, i) {
    const r = store.collector.lastReport;
    const where = i === -1 ? 'the table.get of $keep' : `the table.get of iteration ${i as number}`;
    if (r !== seen && r) print(`  during ${where}: ${summarizeGc(r)}`);
    seen = r;
  });
  const check = Func.wrap(store, { params: ['externref'], results: [] }, function check(_caller, x) {
    print(`check: $keep still holds ${JSON.stringify((x as ExternRef | null)?.value)}`);
  });
  const instance = Instance.create(store, module, [probe, check]);
  const t = instance.getTable('t') as Table;
  for (let i = 0; i < 4; i++) {
    const x = ExternRef.new(store, i === 0 ? 'kept in a local' : `churned ${i}`);
    t.set(i, x);
    x.release();
  }
  print('churn(1200): 1 + 1200 table.gets of non-null refs, one activations-table slot each');
  instance.getFunc('churn').call(1200);
  const r = store.gc();
  print(`after the call, store.gc(): ${r ? summarizeGc(r) : 'no report'}`);
}
