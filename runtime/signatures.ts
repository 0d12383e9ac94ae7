/**
 * Store-wide canonical signature ids (v17's `VMSharedSignatureIndex`, a u32). Structurally equal
 * function types get the same id in every module of the store, so `call_indirect` compares one
 * u32 from the VMFuncRef against one u32 from the caller's `signature_ids` array, and a host
 * function's funcref is callable from any module that imports it with an equal type.
 */
import type { FieldType, FuncType, StorageType, SubType, ValType, WasmModule } from '../compiler/frontend/module.ts';
import { isRefType, refTypeParts } from '../compiler/frontend/module.ts';
import { topHeapType } from '../compiler/frontend/subtyping.ts';
import { drcArrayLayout, drcStructLayout, type GcStorageType } from '../compiler/v31/gc-layout.ts';

/** v17's `VMSharedSignatureIndex::default()`: "no signature" (an uninitialised funcref). */
export const NO_SIGNATURE = 0xffff_ffff;

export function funcTypeKey(type: FuncType): string {
  return `${type.params.join(',')}->${type.results.join(',')}`;
}

export function formatFuncType(type: FuncType): string {
  const list = (ts: readonly ValType[]) => `(${ts.join(', ')})`;
  return `${list(type.params)} -> ${list(type.results)}`;
}

/** What the collector and `is_subtype` know of a registered struct or array type. */
export interface GcTypeInfo {
  readonly kind: 'struct' | 'array';
  /** The engine id of the declared supertype. */
  readonly supertype: number | undefined;
  /** Struct: byte offsets of the fields holding GC references (traced and freed through). */
  readonly refOffsets: readonly number[];
  /** Array: the layout of its elements and whether they are GC references. */
  readonly array?: { readonly baseSize: number; readonly elemSize: number; readonly elemIsRef: boolean };
  /** e.g. `struct (mut i32) anyref` (for explanations). */
  readonly text: string;
}

export class SignatureRegistry {
  private readonly ids = new Map<string, number>();
  private readonly types: (FuncType | undefined)[] = [];
  /** Rec groups registered from modules, by their structural key: the id of their first type. */
  private readonly groups = new Map<string, number>();
  /** Declared supertypes of the ids registered from modules (any kind). */
  private readonly supertypes = new Map<number, number>();
  private readonly gcTypes = new Map<number, GcTypeInfo>();

  /** The id of `type`, registering it on first sight. */
  idOf(type: FuncType): number {
    const key = funcTypeKey(type);
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.types.length;
      this.ids.set(key, id);
      this.types.push({ params: [...type.params], results: [...type.results] });
    }
    return id;
  }

  /** The function type of `id`; undefined for a struct or array type or an unknown id. */
  typeOf(id: number): FuncType | undefined {
    return this.types[id];
  }

  get size(): number {
    return this.types.length;
  }

  /**
   * The engine-wide ids of a module's type definitions (v31's `VMSharedTypeIndex`): a plain
   * function type (its own rec group, final, no concrete reference) by its shape as `idOf`
   * gives it; any other rec group by its structure, with references outside the group named by
   * their engine ids, so equal groups of different modules share ids (iso-recursive equality).
   */
  idsOfModuleTypes(module: Pick<WasmModule, 'typeDefs' | 'canonicalTypeIndices'>): number[] {
    const defs = module.typeDefs;
    const ids: number[] = new Array(defs.length);
    for (let start = 0; start < defs.length; ) {
      const size = Math.max(1, defs[start].recGroupSize);
      const first = defs[start];
      if (size === 1 && isPlainFuncType(first)) {
        ids[start] = this.idOf((first.composite as { type: FuncType }).type);
        start += 1;
        continue;
      }
      const inside = (i: number): boolean => i >= start && i < start + size;
      const val = (t: StorageType): string => {
        if (t === 'i8' || t === 'i16' || !isRefType(t)) return t;
        const { nullable, heap } = refTypeParts(t);
        if (typeof heap !== 'number') return t;
        return `(ref${nullable ? ' null' : ''} ${inside(heap) ? `r${heap - start}` : `e${ids[heap]}`})`;
      };
      const members = defs.slice(start, start + size);
      const key = members.map((d) => {
        const c = d.composite;
        const sup = d.supertypes.map((i) => (inside(i) ? `r${i - start}` : `e${ids[i]}`)).join(',');
        const body = c.kind === 'func' ? `func(${c.type.params.map(val)})->(${c.type.results.map(val)})`
          : c.kind === 'struct' ? `struct(${c.fields.map((f) => `${f.mutable ? 'mut ' : ''}${val(f.storage)}`)})`
          : c.kind === 'cont' ? `cont(${inside(c.funcType) ? `r${c.funcType - start}` : `e${ids[c.funcType]}`})`
          : `array(${c.element.mutable ? 'mut ' : ''}${val(c.element.storage)})`;
        return `${d.final ? 'final ' : ''}sub(${sup}) ${body}`;
      }).join(';');
      let base = this.groups.get(key);
      const fresh = base === undefined;
      if (base === undefined) {
        base = this.types.length;
        this.groups.set(key, base);
        for (const d of members) this.types.push(d.composite.kind === 'func' ? d.composite.type : undefined);
      }
      for (let k = 0; k < size; k++) ids[start + k] = base + k;
      if (fresh) {
        members.forEach((d, k) => {
          const id = base + k;
          if (d.supertypes.length > 0) this.supertypes.set(id, ids[d.supertypes[0]]);
          const info = gcTypeInfoOf(module, d, this.supertypes.get(id));
          if (info !== undefined) this.gcTypes.set(id, info);
        });
      }
      start += size;
    }
    return ids;
  }

  /** v31's `is_subtype` over engine ids: equal, or `expected` on `actual`'s supertype chain. */
  isSubtype(actual: number, expected: number): boolean {
    for (let t: number | undefined = actual; t !== undefined; t = this.supertypes.get(t)) if (t === expected) return true;
    return false;
  }

  /** The struct or array type registered under `id`. */
  gcTypeOf(id: number): GcTypeInfo | undefined {
    return this.gcTypes.get(id);
  }

  /**
   * Byte offsets of the GC references inside an object of type `id` (an array of `length`
   * elements): what the DRC heap decrements when it frees the object.
   */
  refSlots(id: number, length: number | undefined): number[] {
    const info = this.gcTypes.get(id);
    if (info === undefined) return [];
    if (info.kind === 'struct') return [...info.refOffsets];
    const a = info.array!;
    if (!a.elemIsRef || length === undefined) return [];
    return Array.from({ length }, (_, k) => a.baseSize + k * a.elemSize);
  }
}

function isPlainFuncType(d: SubType): boolean {
  if (d.composite.kind !== 'func' || !d.final || d.supertypes.length > 0) return false;
  const { params, results } = d.composite.type;
  return [...params, ...results].every((t) => !isRefType(t) || typeof refTypeParts(t).heap !== 'number');
}

/** A struct or array definition's layout facts (compiler/v31/gc-layout.ts). */
function gcTypeInfoOf(module: Pick<WasmModule, 'typeDefs' | 'canonicalTypeIndices'>, d: SubType, supertype: number | undefined): GcTypeInfo | undefined {
  const c = d.composite;
  if (c.kind === 'func' || c.kind === 'cont') return undefined;
  const storageOf = (t: StorageType): GcStorageType => (t === 'i8' || t === 'i16' || !isRefType(t) ? t : 'ref') as GcStorageType;
  const traced = (t: StorageType): boolean => t !== 'i8' && t !== 'i16' && isRefType(t) && topHeapType(module, refTypeParts(t).heap) !== 'func' && topHeapType(module, refTypeParts(t).heap) !== 'cont';
  const field = (f: FieldType): string => (f.mutable ? `(mut ${f.storage})` : f.storage);
  if (c.kind === 'struct') {
    const layout = drcStructLayout(c.fields.map((f) => storageOf(f.storage)));
    const refOffsets = c.fields.flatMap((f, i) => (traced(f.storage) ? [layout.fields[i]] : []));
    return { kind: 'struct', supertype, refOffsets, text: `struct ${c.fields.map(field).join(' ')}`.trimEnd() };
  }
  const layout = drcArrayLayout(storageOf(c.element.storage));
  return {
    kind: 'array', supertype, refOffsets: [],
    array: { baseSize: layout.baseSize, elemSize: layout.elemSize, elemIsRef: traced(c.element.storage) },
    text: `array ${field(c.element)}`,
  };
}
