/**
 * User stack maps (Cranelift's `UserStackMap`, as wasmtime v31 records them) and their image
 * section `.stackscope.usermaps` (docs/image-format.md §4.3).
 *
 * A user stack map belongs to one call site, keyed by its return address, and says where GC
 * references live in the caller's frame while the call runs: the frame size (the distance from
 * SP at the call up to FP, so SP = FP − frame size) and typed entries at byte offsets from SP.
 * Unlike the bitmap-era maps (one bit per 8-byte word) two 4-byte references can share a word,
 * and every entry carries its type. wasmtime v31 emits only `i32` entries (32-bit VMGcRefs); the
 * format also names `i64` so that foreign maps can be read and rejected by name.
 *
 * A v17 image never has this section, so v17 images stay byte-identical.
 */
import { SECTION_USER_STACKMAPS } from './image.ts';
import { ImageFormatError, Reader } from './image-reader.ts';

export { SECTION_USER_STACKMAPS };
/** Bytes "SSUM". */
export const USER_STACKMAPS_MAGIC = 0x4d55_5353;
export const USER_STACKMAPS_VERSION = 1;

/** Entry types and their codes (the Wasm value-type bytes). */
export const USER_STACK_MAP_TYPES = { i32: 0x7f, i64: 0x7e } as const;
export type UserStackMapType = keyof typeof USER_STACK_MAP_TYPES;
const TYPE_BY_CODE = new Map<number, UserStackMapType>(Object.entries(USER_STACK_MAP_TYPES).map(([k, v]) => [v, k as UserStackMapType]));
const TYPE_SIZE: Record<UserStackMapType, number> = { i32: 4, i64: 8 };

export interface UserStackMapEntry {
  readonly type: UserStackMapType;
  /** Byte offset from SP at the call. */
  readonly offset: number;
}

/** One call site's map. */
export interface UserStackMapRecord {
  readonly funcIndex: number;
  /** Return address relative to `.text` (the lookup key). */
  readonly textReturnOffset: number;
  /** Return address relative to the function. */
  readonly returnOffset: number;
  /** SP-to-FP distance of the frame at this call. */
  readonly frameSize: number;
  readonly entries: readonly UserStackMapEntry[];
}

/** Bytes an entry of `type` covers. */
export function userStackMapTypeSize(type: UserStackMapType): number {
  return TYPE_SIZE[type];
}

/**
 * Checks one map the way wasmtime's `live_gc_refs` asserts (every entry inside the frame) and
 * more (aligned to its size, no two entries overlapping). Returns the reason it is wrong, or
 * undefined.
 */
export function userStackMapProblem(map: Pick<UserStackMapRecord, 'frameSize' | 'entries'>): string | undefined {
  if (!Number.isInteger(map.frameSize) || map.frameSize < 0 || map.frameSize % 8 !== 0) return `frame size ${map.frameSize} is not a multiple of 8`;
  const covered = new Set<number>();
  for (const e of map.entries) {
    const size = TYPE_SIZE[e.type];
    if (size === undefined) return `entry type ${String(e.type)} is not i32 or i64`;
    if (!Number.isInteger(e.offset) || e.offset < 0 || e.offset + size > map.frameSize) return `${e.type} entry at SP+${e.offset} lies outside the ${map.frameSize}-byte frame`;
    if (e.offset % size !== 0) return `${e.type} entry at SP+${e.offset} is not ${size}-byte aligned`;
    for (let b = e.offset; b < e.offset + size; b++) {
      if (covered.has(b)) return `entries overlap at SP+${b}`;
      covered.add(b);
    }
  }
  return undefined;
}

/** The section's bytes: magic, version, count, then each record (ascending text return offset). */
export function encodeUserStackMaps(records: readonly UserStackMapRecord[]): Uint8Array {
  const size = 12 + records.reduce((n, r) => n + 20 + 8 * r.entries.length, 0);
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  let p = 0;
  const u32 = (x: number) => {
    v.setUint32(p, x >>> 0, true);
    p += 4;
  };
  u32(USER_STACKMAPS_MAGIC);
  u32(USER_STACKMAPS_VERSION);
  u32(records.length);
  let last = -1;
  for (const r of records) {
    const problem = userStackMapProblem(r);
    if (problem) throw new ImageFormatError(SECTION_USER_STACKMAPS, p, `map at text offset 0x${r.textReturnOffset.toString(16)}: ${problem}`);
    if (r.textReturnOffset <= last) throw new ImageFormatError(SECTION_USER_STACKMAPS, p, 'records must be in ascending return-address order, one per call site');
    last = r.textReturnOffset;
    u32(r.funcIndex);
    u32(r.textReturnOffset);
    u32(r.returnOffset);
    u32(r.frameSize);
    u32(r.entries.length);
    for (const e of r.entries) {
      out[p] = USER_STACK_MAP_TYPES[e.type];
      p += 4;
      u32(e.offset);
    }
  }
  return out;
}

/**
 * Decodes `.stackscope.usermaps`. Every malformed byte is an ImageFormatError naming the offset:
 * bad magic or version, truncation, an unknown entry type, an entry outside its frame, records
 * out of order.
 */
export function readUserStackMaps(bytes: Uint8Array): UserStackMapRecord[] {
  const r = new Reader(bytes, SECTION_USER_STACKMAPS);
  if (r.u32() !== USER_STACKMAPS_MAGIC) r.fail('bad magic (expected "SSUM")');
  const version = r.u32();
  if (version !== USER_STACKMAPS_VERSION) r.fail(`unsupported version ${version} (expected ${USER_STACKMAPS_VERSION})`);
  const n = r.count(20);
  const out: UserStackMapRecord[] = [];
  let last = -1;
  for (let i = 0; i < n; i++) {
    const at = r.pos;
    const funcIndex = r.u32();
    const textReturnOffset = r.u32();
    const returnOffset = r.u32();
    const frameSize = r.u32();
    const k = r.count(8);
    const entries: UserStackMapEntry[] = [];
    for (let j = 0; j < k; j++) {
      const code = r.u8();
      const type = TYPE_BY_CODE.get(code) ?? r.fail(`unknown entry type 0x${code.toString(16)} (i32 0x7f, i64 0x7e)`);
      if (r.u8() | r.u8() | r.u8()) r.fail('padding after an entry type must be zero');
      entries.push({ type, offset: r.u32() });
    }
    if (textReturnOffset <= last) throw new ImageFormatError(SECTION_USER_STACKMAPS, at, 'records must be in ascending return-address order, one per call site');
    last = textReturnOffset;
    const record = { funcIndex, textReturnOffset, returnOffset, frameSize, entries };
    const problem = userStackMapProblem(record);
    if (problem) throw new ImageFormatError(SECTION_USER_STACKMAPS, at, `map at text offset 0x${textReturnOffset.toString(16)}: ${problem}`);
    out.push(record);
  }
  r.done();
  return out;
}
