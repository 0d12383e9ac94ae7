/**
 * Subtyping of the function-references and GC proposals over the module IR: heap types,
 * reference types, value types and field types, with concrete types compared through their
 * canonical (iso-recursive) indices. Also the canonicalisation itself: two type definitions are
 * the same type when their rec groups are structurally equal, position for position, with
 * references inside the group compared by relative index and references outside it by the
 * canonical index of the type they name (the spec's "rolled-up" comparison).
 */
import type { AbsHeapType, CompositeType, FieldType, HeapType, RefType, StorageType, SubType, ValType } from './module.ts';
import { isRefType, refTypeParts } from './module.ts';

/** The subtyping facts a check needs from a module (the validator passes a module under construction). */
export interface TypeContext {
  readonly typeDefs: readonly SubType[];
  readonly canonicalTypeIndices: readonly number[];
}

/** Each abstract heap type's direct supertype (null for the tops func, extern, any). */
const ABSTRACT_SUPER: Record<AbsHeapType, AbsHeapType | null> = {
  func: null, nofunc: 'func', extern: null, noextern: 'extern', any: null, eq: 'any',
  i31: 'eq', struct: 'eq', array: 'eq', none: 'i31', cont: null, nocont: 'cont',
};
/** The bottom type of each hierarchy, by its top. */
const BOTTOM: Record<'func' | 'extern' | 'any' | 'cont', AbsHeapType> = { func: 'nofunc', extern: 'noextern', any: 'none', cont: 'nocont' };

/** The abstract type a concrete type's kind sits under (`struct`, `array` or `func`). */
function abstractOfConcrete(cx: TypeContext, index: number): AbsHeapType {
  const def = cx.typeDefs[index];
  if (def === undefined) return 'any';
  return compositeAbstract(def.composite);
}

/** `struct`, `array` or `func`: the abstract heap type of a composite type's kind. */
export function compositeAbstract(c: CompositeType): AbsHeapType {
  switch (c.kind) {
    case 'func': return 'func';
    case 'struct': return 'struct';
    case 'array': return 'array';
    case 'cont': return 'cont';
  }
}

/** The top of the hierarchy a heap type belongs to: func, extern or any. */
export function topHeapType(cx: TypeContext, h: HeapType): 'func' | 'extern' | 'any' | 'cont' {
  let a: AbsHeapType = typeof h === 'number' ? abstractOfConcrete(cx, h) : h;
  if (a === 'none') return 'any';
  for (let up = ABSTRACT_SUPER[a]; up !== null; up = ABSTRACT_SUPER[a]) a = up;
  return a as 'func' | 'extern' | 'any' | 'cont';
}

/** The bottom heap type of `h`'s hierarchy (none, nofunc, noextern). */
export function bottomHeapType(cx: TypeContext, h: HeapType): AbsHeapType {
  return BOTTOM[topHeapType(cx, h)];
}

function canonical(cx: TypeContext, index: number): number {
  return cx.canonicalTypeIndices[index] ?? index;
}

function abstractSubtype(a: AbsHeapType, b: AbsHeapType): boolean {
  if (a === 'none') return b === 'none' || b === 'i31' || b === 'struct' || b === 'array' || b === 'eq' || b === 'any';
  for (let t: AbsHeapType | null = a; t !== null; t = ABSTRACT_SUPER[t]) if (t === b) return true;
  return false;
}

/** `a <: b` for heap types. */
export function isHeapSubtype(cx: TypeContext, a: HeapType, b: HeapType): boolean {
  if (typeof a === 'number') {
    if (typeof b === 'number') {
      const target = canonical(cx, b);
      // Walk the declared supertype chain (indices always decrease, so this ends).
      for (let t: number | undefined = a; t !== undefined; t = cx.typeDefs[t]?.supertypes[0]) {
        if (canonical(cx, t) === target) return true;
      }
      return false;
    }
    return abstractSubtype(abstractOfConcrete(cx, a), b);
  }
  if (typeof b === 'number') {
    // Only the bottom of b's hierarchy is below a concrete type.
    return a === bottomHeapType(cx, b);
  }
  return abstractSubtype(a, b);
}

/** `a <: b` for value types (numbers only equal themselves). */
export function isValSubtype(cx: TypeContext, a: ValType, b: ValType): boolean {
  if (a === b) return true;
  if (!isRefType(a) || !isRefType(b)) return false;
  const pa = refTypeParts(a);
  const pb = refTypeParts(b);
  if (pa.nullable && !pb.nullable) return false;
  return isHeapSubtype(cx, pa.heap, pb.heap);
}

function isStorageSubtype(cx: TypeContext, a: StorageType, b: StorageType): boolean {
  if (a === 'i8' || a === 'i16' || b === 'i8' || b === 'i16') return a === b;
  return isValSubtype(cx, a, b);
}

/** Field subtyping: immutable fields are covariant, mutable ones invariant. */
export function isFieldSubtype(cx: TypeContext, a: FieldType, b: FieldType): boolean {
  if (a.mutable !== b.mutable) return false;
  if (!isStorageSubtype(cx, a.storage, b.storage)) return false;
  return !a.mutable || isStorageSubtype(cx, b.storage, a.storage);
}

/** Whether composite type `a` may declare `b` as its supertype's composite. */
export function isCompositeSubtype(cx: TypeContext, a: CompositeType, b: CompositeType): boolean {
  switch (a.kind) {
    case 'func': {
      if (b.kind !== 'func') return false;
      const fa = a.type;
      const fb = b.type;
      return fa.params.length === fb.params.length && fa.results.length === fb.results.length
        && fb.params.every((p, i) => isValSubtype(cx, p, fa.params[i]))
        && fa.results.every((r, i) => isValSubtype(cx, r, fb.results[i]));
    }
    case 'struct':
      return b.kind === 'struct' && b.fields.length <= a.fields.length && b.fields.every((f, i) => isFieldSubtype(cx, a.fields[i], f));
    case 'array':
      return b.kind === 'array' && isFieldSubtype(cx, a.element, b.element);
    case 'cont':
      return b.kind === 'cont' && isHeapSubtype(cx, a.funcType, b.funcType);
  }
}

/**
 * Canonical type indices: for each type index, the first index of a structurally equal type
 * (its rec group equal to an earlier one, position for position). Plain function types, each
 * its own one-type group, are canonicalised by shape as before GC types existed.
 */
export function canonicalizeTypes(typeDefs: readonly SubType[]): number[] {
  const canon: number[] = new Array(typeDefs.length);
  const firstOfKey = new Map<string, number>();
  // The rec group being keyed: types start … start + size − 1 (the helpers are made once, not per group).
  let start = 0;
  let size = 1;
  const ref = (i: number): string => (i >= start && i < start + size ? `r${i - start}` : `c${canon[i] ?? i}`);
  const val = (t: StorageType): string => {
    if (t === 'i8' || t === 'i16' || !isRefType(t)) return t;
    const { nullable, heap } = refTypeParts(t as RefType);
    return typeof heap === 'number' ? `(ref${nullable ? ' null' : ''} ${ref(heap)})` : t;
  };
  const field = (f: FieldType): string => `${f.mutable ? 'mut ' : ''}${val(f.storage)}`;
  while (start < typeDefs.length) {
    size = Math.max(1, typeDefs[start].recGroupSize);
    const parts: string[] = [];
    for (let k = 0; k < size && start + k < typeDefs.length; k++) {
      const d = typeDefs[start + k];
      const c = d.composite;
      const body = c.kind === 'func' ? `func(${c.type.params.map(val).join(',')})->(${c.type.results.map(val).join(',')})`
        : c.kind === 'struct' ? `struct(${c.fields.map(field).join(',')})`
        : c.kind === 'cont' ? `cont(${ref(c.funcType)})`
        : `array(${field(c.element)})`;
      parts.push(`${d.final ? 'final ' : ''}sub(${d.supertypes.map(ref).join(',')}) ${body}`);
    }
    const key = parts.join(';');
    const first = firstOfKey.get(key);
    if (first === undefined) firstOfKey.set(key, start);
    for (let k = 0; k < size && start + k < typeDefs.length; k++) canon[start + k] = (first ?? start) + k;
    start += size;
  }
  return canon;
}
