/**
 * The v31 GC heap layouts against wasmtime v31.0.0: crates/environ/src/gc.rs and gc/drc.rs
 * (constants, kinds, `kind_matches`, struct and array layouts), the seed drc-v31 (VMDrcHeader,
 * VMDrcArrayHeader, VMDrcExternRef, the activations table) and gcc's layout of the same repr(C)
 * structs.
 */
import test from 'ava';
import {
  FreeListConstants,
  GC_HEAP_CAPACITY,
  I31_DISCRIMINANT,
  NO_TYPE_INDEX,
  VMDrcArrayHeaderLayout,
  VMDrcExternRefLayout,
  VMDrcHeaderLayout,
  VMGcHeaderLayout,
  VMGcKind,
  VMGcRefActivationsTableLayout,
  VM_GC_KIND_MASK,
  VM_GC_KIND_UNUSED_MASK,
  drcArrayLayout,
  drcArraySize,
  drcStructLayout,
  fitsInReservedBits,
  gcKindMatches,
  gcKindOf,
  type VMGcKindName,
} from './gc-layout.ts';
import { cLayout } from './testing.ts';

test('constants of v31.0.0: header 8/8 (kind 0, type 4), DRC header 16/8, array length at 16, heap 1 << 19', (t) => {
  t.is(I31_DISCRIMINANT, 1);
  t.deepEqual([VMGcHeaderLayout.size, VMGcHeaderLayout.align, VMGcHeaderLayout.kind, VMGcHeaderLayout.typeIndex], [8, 8, 0, 4]);
  t.deepEqual([VMDrcHeaderLayout.size, VMDrcHeaderLayout.align, VMDrcHeaderLayout.refCount], [16, 8, 8]);
  t.is(VMDrcArrayHeaderLayout.length, 16);
  t.is(VMDrcExternRefLayout.hostData, 16);
  t.is(VMDrcExternRefLayout.size, 24);
  t.is(GC_HEAP_CAPACITY, 524_288);
  t.deepEqual(FreeListConstants, { align: 8, minBlockSize: 24, firstBlock: 8 });
  t.is(NO_TYPE_INDEX, 0xffff_ffff);
  t.deepEqual(
    [VMGcRefActivationsTableLayout.next, VMGcRefActivationsTableLayout.end, VMGcRefActivationsTableLayout.slotSize, VMGcRefActivationsTableLayout.chunkSlots],
    [0, 8, 4, 1024],
  );
});

test('VMGcKind: top 5 bits, values and the kind_matches table of gc.rs', (t) => {
  t.is(VM_GC_KIND_MASK, 0xf800_0000);
  t.is(VM_GC_KIND_UNUSED_MASK, 0x07ff_ffff);
  t.deepEqual({ ...VMGcKind }, { ExternRef: 0x4000_0000, AnyRef: 0x8000_0000, EqRef: 0xa000_0000, ArrayRef: 0xa800_0000, StructRef: 0xb000_0000 });
  const all: VMGcKindName[] = ['ExternRef', 'AnyRef', 'EqRef', 'ArrayRef', 'StructRef'];
  const subs: Record<VMGcKindName, VMGcKindName[]> = {
    ExternRef: [], AnyRef: ['EqRef', 'ArrayRef', 'StructRef'], EqRef: ['ArrayRef', 'StructRef'], ArrayRef: [], StructRef: [],
  };
  for (const sup of all) {
    t.true(gcKindMatches(sup, sup));
    for (const k of all.filter((k) => k !== sup)) t.is(gcKindMatches(k, sup), subs[sup].includes(k), `${k} matches ${sup}`);
  }
  t.is(gcKindOf(VMGcKind.StructRef | 40), 'StructRef');
  t.is(gcKindOf(0x0800_0000), undefined, 'a kind word no kind has');
  t.true(fitsInReservedBits(2 ** 27 - 1));
  t.false(fitsInReservedBits(2 ** 27));
});

test('struct and array layouts: common_struct_layout / common_array_layout with the DRC header', (t) => {
  // Fields aligned to their own size after the 16-byte header; the size rounded to the max align.
  t.deepEqual(drcStructLayout([]), { size: 16, align: 8, fields: [] });
  t.deepEqual(drcStructLayout(['i32']), { size: 24, align: 8, fields: [16] });
  t.deepEqual(drcStructLayout(['i32', 'i64', 'ref']), { size: 40, align: 8, fields: [16, 24, 32] });
  t.deepEqual(drcStructLayout(['i8', 'i16', 'ref', 'ref']), { size: 32, align: 8, fields: [16, 18, 20, 24] });
  t.deepEqual(drcStructLayout(['v128']), { size: 32, align: 16, fields: [16] });
  // length u32 at 16; elements at 20 (4-byte and smaller) or 24 (8-byte).
  t.deepEqual(drcArrayLayout('ref'), { baseSize: 20, align: 8, elemSize: 4 });
  t.deepEqual(drcArrayLayout('i64'), { baseSize: 24, align: 8, elemSize: 8 });
  t.deepEqual(drcArrayLayout('i8'), { baseSize: 20, align: 8, elemSize: 1 });
  t.is(drcArraySize(drcArrayLayout('ref'), 3), 32);
});

test('C layout oracle: gcc lays out the DRC objects and the activations table bump area', (t) => {
  const expected: Record<string, number> = {
    'VMGcHeader.size': VMGcHeaderLayout.size,
    'VMGcHeader.ty': VMGcHeaderLayout.typeIndex,
    'VMDrcHeader.size': VMDrcHeaderLayout.size,
    'VMDrcHeader.ref_count': VMDrcHeaderLayout.refCount,
    'VMDrcArrayHeader.length': VMDrcArrayHeaderLayout.length,
    'VMDrcExternRef.size': VMDrcExternRefLayout.size,
    'VMDrcExternRef.host_data': VMDrcExternRefLayout.hostData,
    'VMGcRefTableAlloc.next': VMGcRefActivationsTableLayout.next,
    'VMGcRefTableAlloc.end': VMGcRefActivationsTableLayout.end,
    'VMGcRefTableAlloc.chunk': VMGcRefActivationsTableLayout.chunk,
    'VMGcRefTableAlloc.size': VMGcRefActivationsTableLayout.size,
  };
  const c = cLayout(`
struct VMGcHeader { uint32_t kind; uint32_t ty; };
struct VMDrcHeader { struct VMGcHeader header; uint64_t ref_count; };
struct VMDrcArrayHeader { struct VMDrcHeader header; uint32_t length; };
struct VMDrcExternRef { struct VMDrcHeader header; uint32_t host_data; };
struct VMGcRefTableAlloc { uint32_t *next; uint32_t *end; struct { uint32_t *data; size_t len; } chunk; };`, Object.keys(expected));
  t.deepEqual(c, expected);
});
