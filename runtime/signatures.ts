/**
 * Store-wide canonical signature ids (v17's `VMSharedSignatureIndex`, a u32). Structurally equal
 * function types get the same id in every module of the store, so `call_indirect` compares one
 * u32 from the VMFuncRef against one u32 from the caller's `signature_ids` array, and a host
 * function's funcref is callable from any module that imports it with an equal type.
 */
import type { FuncType, ValType } from '../compiler/frontend/module.ts';

/** v17's `VMSharedSignatureIndex::default()`: "no signature" (an uninitialised funcref). */
export const NO_SIGNATURE = 0xffff_ffff;

export function funcTypeKey(type: FuncType): string {
  return `${type.params.join(',')}->${type.results.join(',')}`;
}

export function formatFuncType(type: FuncType): string {
  const list = (ts: readonly ValType[]) => `(${ts.join(', ')})`;
  return `${list(type.params)} -> ${list(type.results)}`;
}

export class SignatureRegistry {
  private readonly ids = new Map<string, number>();
  private readonly types: FuncType[] = [];

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

  typeOf(id: number): FuncType | undefined {
    return this.types[id];
  }

  get size(): number {
    return this.types.length;
  }
}
