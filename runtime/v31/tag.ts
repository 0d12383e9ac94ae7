/**
 * `V31Tag` (exported as `V44Tag` for v44 stores): a tag of the stack-switching proposal, as
 * wasmtime v44's `Tag` extern. A tag's identity is the address of its `VMTagDefinition` (the u32
 * engine-wide id of its function type), which is what a resume's handler list holds and what
 * `suspend` and `switch` search for: a tag an instance defines lives in that instance's
 * `defined_tags` region; one the host makes (`V31Tag.new`, v44's `Tag::new`) in the store's heap.
 * An instance that imports a tag keeps a `VMTagImport` (the owner's definition, the owner's vmctx,
 * the defined index) and compiled code reaches the definition through it, so a suspend in one
 * instance is handled by a resume in another that imported or exported the same tag, while two
 * distinct tags of one type never match each other.
 *
 * Import matching is v44's `tag_ty` (crates/wasmtime/src/runtime/types/matching.rs): the two
 * signatures must be the same engine type (no subtyping), else "incompatible tag types".
 */
import { isRefType, refTypeParts, type FuncType } from '../../compiler/frontend/module.ts';
import { V44TagDefinitionLayout } from '../../compiler/v44/vmoffsets.ts';
import { RuntimeError } from '../errors.ts';
import { formatFuncType } from '../signatures.ts';
import type { DrcStore } from './drc-store.ts';

export class V31Tag {
  /**
   * @internal `definition`: its VMTagDefinition; `ownerVmctx` and `index`: the defining instance's
   * VMContext and defined tag index (0 and 0 for a host tag), what an importer's VMTagImport records.
   */
  constructor(
    readonly store: DrcStore,
    readonly type: FuncType,
    /** The engine-wide id of `type` (what the VMTagDefinition holds). */
    readonly typeId: number,
    readonly definition: bigint,
    readonly ownerVmctx = 0n,
    readonly index = 0,
  ) {}

  /**
   * A tag made by the host (v44's `Tag::new`) of function type `type`, to import into instances of
   * this store: a fresh VMTagDefinition, distinct from every other tag even of the same type. Only
   * v44 stores have tags; a type naming a module's concrete type has no meaning outside that
   * module, so `type` uses numeric and abstract reference types only.
   */
  static new(store: DrcStore, type: FuncType): V31Tag {
    store.assertOpen();
    if (store.era.name !== 'v44') throw new RuntimeError('V44Tag.new', `tags belong to the stack-switching proposal, which only v44 stores run (this is a ${store.era.name} store)`);
    const concrete = [...type.params, ...type.results].find((t) => isRefType(t) && typeof refTypeParts(t).heap === 'number');
    if (concrete !== undefined) throw new RuntimeError('V44Tag.new', `${formatFuncType(type)}: ${concrete} names a module's type index; a host tag's type may use numeric and abstract reference types only`);
    const typeId = store.signatures.idOf(type);
    const definition = store.heap.alloc(V44TagDefinitionLayout.size, 4);
    store.machine.writeU32(definition + BigInt(V44TagDefinitionLayout.typeIndex), typeId);
    return new V31Tag(store, { params: [...type.params], results: [...type.results] }, typeId, definition);
  }

  /** Whether `other` is this very tag (v44's `Tag::eq`): the same definition. */
  equals(other: V31Tag): boolean {
    return other.store === this.store && other.definition === this.definition;
  }
}
