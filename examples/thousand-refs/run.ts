import { ExternRef, Func, Instance, type Table } from '../../index.ts';
import type { GcReport } from '../../gc/collector.ts';
import { summarizeGc, type ExampleContext } from '../harness.ts';

const N = 1000;

export function run({ store, module, print }: ExampleContext): void {
  const before = store.collector.lastReport;
  const gc = Func.wrap(store, { params: [], results: [] }, function gc() {
    const earlier = store.collector.lastReport;
    if (earlier && earlier !== before) print(`the last collection compiled code started while the locals filled: ${summarizeGc(earlier)}`);
    const report = store.collector.collect({ reason: 'host', explain: true });
    print(`host gc(): ${summarizeGc(report)}`);
    const frame = report.explanation!.frames[0];
    const map = frame.map!;
    const marked = map.words.filter((w) => w.isRef);
    print(`  youngest frame: ${frame.functionName}, ${frame.frameSize} bytes = ${map.mappedWords} mapped words, ${marked.length} bits set`);
    print(`  marked words from sp+${marked[0].bit * 8} to sp+${marked[marked.length - 1].bit * 8}; the first three:`);
    for (const w of marked.slice(0, 3)) print(`    sp+${w.bit * 8} (bit ${w.bit}) = ${w.value === undefined ? '??' : '0x' + w.value.toString(16)} -> ${w.hostValue}`);
    print(`  bits (sp first): ${map.bits.slice(0, 40)}...${map.bits.slice(-40)}`);
    print(`  distinct roots ${report.explanation!.roots.length}, freed ${report.freedCount}`);
  });
  const instance = Instance.create(store, module, [gc]);
  const input = instance.getTable('in') as Table;
  const output = instance.getTable('out') as Table;
  for (let k = 0; k < N; k++) {
    const x = ExternRef.new(store, `ref ${k}`);
    input.set(k, x);
    x.release(); // the table is the only holder until Wasm reads it
  }
  print(`hold_all(): ${N} table.gets into ${N} locals, then table.fill clears $in, then gc()`);
  instance.getFunc('hold_all').call();
  let same = 0;
  for (let k = 0; k < N; k++) {
    const x = output.get(k) as ExternRef | null;
    if (x?.value === `ref ${k}`) same++;
    x?.release();
  }
  print(`$out holds ${same} of ${N} refs, each the object its local held before the GC`);
  const r = store.gc();
  print(`store.gc() after the call: ${r ? summarizeGc(r) : 'no report'}`);
}
