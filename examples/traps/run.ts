import { Func, Instance, WasmTrap, type Val } from '../../index.ts';
import type { ExampleContext } from '../harness.ts';

export function run({ store, module, print }: ExampleContext): void {
  const refuse = Func.wrap(store, { params: ['i32'], results: [] }, function refuse(_caller, x) {
    throw new WasmTrap({ code: 'Interrupt', detail: `the host refused ${x as number}` });
  });
  const instance = Instance.create(store, module, [refuse]);
  const attempt = (name: string, ...args: Val[]) => {
    const call = `${name}(${args.join(', ')})`;
    try {
      const r = instance.getFunc(name).call(...args);
      print(`${call} = ${String(r)}`);
      return;
    } catch (e) {
      if (!(e instanceof WasmTrap)) throw e;
      print(`${call} trapped: ${e.code}: ${e.trapMessage}${e.detail ? ` (${e.detail})` : ''}`);
      const n = e.backtrace.length;
      print(`  pc ${e.pc === undefined ? 'none' : '0x' + e.pc.toString(16)}, ${n} frame${n === 1 ? '' : 's'}:`);
      const shown = e.backtrace.length > 6 ? e.backtrace.slice(0, 4) : e.backtrace;
      for (const [i, f] of shown.entries()) print(`    ${i}: 0x${f.pc.toString(16)} ${f.symbol ?? '?'}`);
      if (shown.length < e.backtrace.length) {
        const last = e.backtrace[e.backtrace.length - 1];
        print(`    ... ${e.backtrace.length - shown.length - 1} more ...`);
        print(`    ${e.backtrace.length - 1}: 0x${last.pc.toString(16)} ${last.symbol ?? '?'}`);
      }
    }
  };
  attempt('divide', 50);
  attempt('divide', 1);
  attempt('load', 65532);
  attempt('load', 65533);
  attempt('fail_deep');
  attempt('call_slot', 0);
  attempt('call_slot', 1);
  attempt('call_slot', 2);
  attempt('recurse', 0);
  attempt('ask_host', 9);
  print(`after every trap: Wasm depth ${store.wasmDepth}, divide(10) = ${instance.getFunc('divide').call(10) as number}`);
}
