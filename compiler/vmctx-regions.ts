/**
 * The region algorithm the v31 and v44 `VMOffsets` share (`From<VMOffsetsFields>` in
 * crates/environ/src/vmoffsets.rs of both releases): a u32 magic and pointer-sized header
 * fields up to `vmctx_dynamic_data_start`, then one array region per count in a fixed order,
 * each `count × element size` bytes, with one 16-byte alignment step before the defined globals.
 * The eras differ only in the header, the element sizes and the element fields, which they pass
 * in as an `EraVmctxSpec`; the inputs are validated as wasmtime's checked arithmetic would panic.
 */
import {
  DEFAULT_ELEMENT_VIEW_LIMIT,
  POINTER_SIZE,
  VMOffsetsCountError,
  VMOffsetsOverflowError,
  VMOffsetsTooManyElementsError,
} from './vmoffsets.ts';

const U32_MAX = 0xffff_ffff;

/** `VMOffsetsFields` of the tag-aware eras (v31, v44), minus the pointer size. */
export interface TaggedOffsetsFields {
  numImportedFunctions: number;
  numImportedTables: number;
  numImportedMemories: number;
  numImportedGlobals: number;
  numImportedTags: number;
  numDefinedTables: number;
  numDefinedMemories: number;
  numOwnedMemories: number;
  numDefinedGlobals: number;
  numDefinedTags: number;
  numEscapedFuncs: number;
}

export const TAGGED_FIELD_NAMES: readonly (keyof TaggedOffsetsFields)[] = [
  'numImportedFunctions',
  'numImportedTables',
  'numImportedMemories',
  'numImportedGlobals',
  'numImportedTags',
  'numDefinedTables',
  'numDefinedMemories',
  'numOwnedMemories',
  'numDefinedGlobals',
  'numDefinedTags',
  'numEscapedFuncs',
];

/** The array regions of v31 and v44, in their `fields!` order. */
export const TAGGED_ARRAY_REGION_NAMES = [
  'imported_memories',
  'defined_memories',
  'owned_memories',
  'imported_functions',
  'imported_tables',
  'imported_globals',
  'imported_tags',
  'defined_tables',
  'defined_globals',
  'defined_tags',
  'func_refs',
] as const;
export type TaggedArrayRegionName = (typeof TAGGED_ARRAY_REGION_NAMES)[number];

/** What one era says about its VMContext. */
export interface EraVmctxSpec<Header extends string> {
  /** Header fields in order; the first is the u32 magic, the rest are one pointer each. */
  readonly header: readonly Header[];
  /** `vmctx_dynamic_data_start`. */
  readonly dynamicDataStart: number;
  /** Per array region: the count that sizes it, its element size and its fields. */
  readonly arrays: Readonly<Record<TaggedArrayRegionName, { count: keyof TaggedOffsetsFields; elementSize: number; fields: Readonly<Record<string, number>> }>>;
}

export interface VmctxRegion<Name extends string> {
  name: Name;
  offset: number;
  size: number;
  count: number;
  elementSize: number;
}

export interface VmctxPadding<Name extends string> {
  after: Name;
  offset: number;
  size: number;
  align: number;
}

export interface VmctxElement {
  index: number;
  offset: number;
  size: number;
  fields: Record<string, number>;
}

/** The laid-out VMContext of one module shape in one era. */
export interface VmctxLayout<Name extends string> {
  readonly fields: Readonly<TaggedOffsetsFields>;
  readonly size: number;
  readonly regions: readonly VmctxRegion<Name>[];
  readonly paddings: readonly VmctxPadding<Name>[];
  readonly begin: Readonly<Record<Name, number>>;
}

/**
 * Lays out a VMContext.
 * @throws VMOffsetsCountError for a count that is not a u32, or more owned than defined memories.
 * @throws VMOffsetsOverflowError where wasmtime's checked arithmetic panics.
 */
export function layOutVmctx<Header extends string>(
  spec: EraVmctxSpec<Header>,
  given: TaggedOffsetsFields,
): VmctxLayout<Header | TaggedArrayRegionName> {
  type Name = Header | TaggedArrayRegionName;
  for (const name of TAGGED_FIELD_NAMES) {
    const value: unknown = (given as unknown as Record<string, unknown> | null)?.[name];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > U32_MAX) {
      throw new VMOffsetsCountError(name as never, value, 'must be an integer in [0, 2^32)');
    }
  }
  if (given.numOwnedMemories > given.numDefinedMemories) {
    throw new VMOffsetsCountError('numOwnedMemories', given.numOwnedMemories, `exceeds numDefinedMemories (${given.numDefinedMemories})`);
  }
  const fields = Object.freeze(Object.fromEntries(TAGGED_FIELD_NAMES.map((n) => [n, given[n]])) as unknown as TaggedOffsetsFields);
  const regions: VmctxRegion<Name>[] = [];
  const paddings: VmctxPadding<Name>[] = [];
  regions.push({ name: spec.header[0]!, offset: 0, size: 4, count: 1, elementSize: 4 });
  paddings.push({ after: spec.header[0]!, offset: 4, size: POINTER_SIZE - 4, align: POINTER_SIZE });
  spec.header.slice(1).forEach((name, i) => {
    regions.push({ name, offset: POINTER_SIZE * (i + 1), size: POINTER_SIZE, count: 1, elementSize: POINTER_SIZE });
  });
  let next = spec.dynamicDataStart;
  for (const name of TAGGED_ARRAY_REGION_NAMES) {
    if (name === 'defined_globals') {
      const aligned = Math.ceil(next / 16) * 16;
      if (aligned > U32_MAX) throw new VMOffsetsOverflowError(name as never, next, 0, 0);
      if (aligned !== next) paddings.push({ after: regions[regions.length - 1]!.name, offset: next, size: aligned - next, align: 16 });
      next = aligned;
    }
    const array = spec.arrays[name];
    const count = fields[array.count];
    const size = count * array.elementSize;
    if (size > U32_MAX || next + size > U32_MAX) throw new VMOffsetsOverflowError(name as never, next, count, array.elementSize);
    regions.push({ name, offset: next, size, count, elementSize: array.elementSize });
    next += size;
  }
  return {
    fields,
    size: next,
    regions: Object.freeze(regions.map((r) => Object.freeze(r))),
    paddings: Object.freeze(paddings.map((p) => Object.freeze(p))),
    begin: Object.freeze(Object.fromEntries(regions.map((r) => [r.name, r.offset])) as Record<Name, number>),
  };
}

/**
 * Every element of every array region with absolute field offsets (`layout --json`).
 * @throws VMOffsetsTooManyElementsError beyond `limit` elements in total.
 */
export function vmctxElements<Header extends string>(
  spec: EraVmctxSpec<Header>,
  layout: VmctxLayout<Header | TaggedArrayRegionName>,
  limit: number = DEFAULT_ELEMENT_VIEW_LIMIT,
): Record<TaggedArrayRegionName, VmctxElement[]> {
  const byName = new Map(layout.regions.map((r) => [r.name, r]));
  const total = TAGGED_ARRAY_REGION_NAMES.reduce((sum, name) => sum + byName.get(name)!.count, 0);
  if (total > limit) throw new VMOffsetsTooManyElementsError(total, limit);
  const out = {} as Record<TaggedArrayRegionName, VmctxElement[]>;
  for (const name of TAGGED_ARRAY_REGION_NAMES) {
    const r = byName.get(name)!;
    const fieldOffsets = Object.entries(spec.arrays[name].fields);
    out[name] = Array.from({ length: r.count }, (_, index) => {
      const offset = r.offset + index * r.elementSize;
      return { index, offset, size: r.elementSize, fields: Object.fromEntries(fieldOffsets.map(([f, rel]) => [f, offset + rel])) };
    });
  }
  return out;
}
