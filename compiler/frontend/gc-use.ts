/**
 * Whether a module uses the GC proposal (type definitions other than plain function types,
 * reference types beyond funcref and externref, the GC instructions), and where: what an era
 * without GC (v17) names when it refuses the module.
 */
import type { ValType, WasmModule } from './module.ts';
import { isRefType, refTypeParts } from './module.ts';

export interface GcUseOptions {
  /**
   * Whether `nullexternref` and `nullfuncref` (the bottom types `noextern` and `nofunc` of the
   * extern and func hierarchies, whose one value is their null) count as plain reference types.
   * An era that compiles the function-references proposal (v44: stack switching needs it) takes
   * them: a `(ref.null noextern)` is the same null as `(ref.null extern)`, and Binaryen writes
   * every `ref.null extern` that way. `none`, the any hierarchy's bottom, stays GC. Wasmtime v17
   * validates without the GC and function-references features and refuses all three.
   */
  readonly bottoms?: boolean;
}

/** Where the GC proposal is used in `module`: a description for a profile's rejection, or undefined. */
export function firstGcUse(module: WasmModule, options: GcUseOptions = {}): { readonly what: string; readonly funcIndex?: number; readonly instrIndex?: number; readonly offset?: number } | undefined {
  // Continuation types and references to them are stack switching, not GC (profile v44 compiles them).
  const isCont = (h: number | string): boolean => h === 'cont' || h === 'nocont' || (typeof h === 'number' && module.typeDefs[h]?.composite.kind === 'cont');
  const isBottom = (h: number | string): boolean => options.bottoms === true && (h === 'noextern' || h === 'nofunc');
  const basic = (t: ValType): boolean => !isRefType(t) || t === 'funcref' || t === 'externref' || isCont(refTypeParts(t).heap) || isBottom(refTypeParts(t).heap);
  // A rec group is GC unless it ties function types to continuation types (a continuation
  // that takes a continuation of its own type, as symmetric `switch` needs).
  const contGroup = (start: number, size: number): boolean => module.typeDefs.slice(start, start + size).some((d) => d.composite.kind === 'cont');
  const def = module.typeDefs.find((d) => (d.composite.kind !== 'func' && d.composite.kind !== 'cont') || !d.final || d.supertypes.length > 0 || (d.recGroupSize !== 1 && !contGroup(d.recGroupStart, d.recGroupSize)));
  if (def !== undefined) return { what: `the ${def.composite.kind} type at byte offset ${def.offset} (GC type definitions)`, offset: def.offset };
  const odd = module.types.flatMap((t) => [...t.params, ...t.results]).find((t) => !basic(t));
  if (odd !== undefined) return { what: `the reference type ${odd} in a function type` };
  for (const fn of module.functions) {
    const local = fn.locals.find((t) => !basic(t));
    if (local !== undefined) return { what: `a local of type ${local}`, funcIndex: fn.index };
    const k = fn.body.findIndex((i) => GC_OPS.has(i.op) || (i.op === 'ref.null' && !basic(i.type)) || (i.op === 'select' && i.type !== null && !basic(i.type)));
    if (k >= 0) return { what: `'${fn.body[k].op}'`, funcIndex: fn.index, instrIndex: k, offset: fn.body[k].offset };
  }
  const g = module.globalTypes.find((t) => !basic(t.valType));
  if (g !== undefined) return { what: `a global of type ${g.valType}` };
  const t = module.tableTypes.find((tt) => !basic(tt.elemType));
  if (t !== undefined) return { what: `a table of ${t.elemType}` };
  return undefined;
}

export const GC_OPS: ReadonlySet<string> = new Set([
  'struct.new', 'struct.new_default', 'struct.get', 'struct.get_s', 'struct.get_u', 'struct.set',
  'array.new', 'array.new_default', 'array.new_fixed', 'array.get', 'array.get_s', 'array.get_u', 'array.set',
  'array.len', 'ref.i31', 'i31.get_s', 'i31.get_u', 'ref.eq', 'ref.as_non_null', 'ref.test', 'ref.cast',
]);

