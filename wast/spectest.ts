/**
 * The `spectest` module every script of the specification's test suite may import from: print
 * functions, four globals holding 666 (666.6 for the floats), a funcref table of 10..20
 * elements and a memory of 1..2 pages, as the reference interpreter defines them.
 */
import { f32FromBits } from '../compiler/frontend/float-bits.ts';
import type { FuncType } from '../compiler/frontend/module.ts';
import { Func, Global, Memory, Table, type Extern, type Store, type Val } from '../runtime/api.ts';

const PRINTS: Record<string, FuncType> = {
  print: { params: [], results: [] },
  print_i32: { params: ['i32'], results: [] },
  print_i64: { params: ['i64'], results: [] },
  print_f32: { params: ['f32'], results: [] },
  print_f64: { params: ['f64'], results: [] },
  print_i32_f32: { params: ['i32', 'f32'], results: [] },
  print_f64_f64: { params: ['f64', 'f64'], results: [] },
};

/** The spectest exports, created in `store`; `print` receives each printed line. */
export function spectestExports(store: Store, print: (line: string) => void): Map<string, Extern> {
  const out = new Map<string, Extern>();
  for (const [name, type] of Object.entries(PRINTS)) {
    out.set(name, Func.wrap(store, type, (_caller, ...args: Val[]) => {
      print(args.map((a, i) => `${String(a)} : ${type.params[i]}`).join(', '));
    }));
  }
  out.set('global_i32', Global.new(store, { valType: 'i32', mutable: false }, 666));
  out.set('global_i64', Global.new(store, { valType: 'i64', mutable: false }, 666n));
  out.set('global_f32', Global.new(store, { valType: 'f32', mutable: false }, f32FromBits(0x4426a666)));
  out.set('global_f64', Global.new(store, { valType: 'f64', mutable: false }, 666.6));
  out.set('table', Table.new(store, { elemType: 'funcref', min: 10, max: 20 }));
  out.set('memory', Memory.new(store, { min: 1, max: 2, shared: false }));
  return out;
}
