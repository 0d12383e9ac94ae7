/**
 * Runs compiled code on both arches: control flow, locals, select, globals, memory with
 * bounds checks, calls (defined, imported, indirect, many arguments), tables of funcref and
 * externref with their barriers and libcalls, the stack-limit check, and traps landing on
 * listed trap sites with the right codes. Stack maps are checked against the live stack from
 * inside host functions.
 */
import test from 'ava';
import { GuestTrap } from '../simulator/trap.ts';
import type { HostCall } from '../simulator/machine.ts';
import type { Arch } from '../isa/arch.ts';
import { instantiate, liveWords, trapCodeAt, u32, watModule, type TestInstance } from './testing.ts';
import { REGALLOC_MODES } from './index.ts';

const ARCHES = ['x64', 'aarch64'] as const satisfies readonly Arch[];
/** Every test runs on both arches in both register-allocation modes. */
const TARGETS = ARCHES.flatMap((arch) => REGALLOC_MODES.map((regalloc) => ({ arch, regalloc, name: regalloc === 'none' ? arch : `${arch}, ${regalloc}` })));

const CONTROL = `(module
  (func $fac (param i64) (result i64)
    (if (result i64) (i64.eqz (local.get 0)) (then (i64.const 1))
      (else (i64.mul (local.get 0) (call $fac (i64.sub (local.get 0) (i64.const 1)))))))
  (func $sum (param i32) (result i32) (local i32)
    (block (loop (br_if 1 (i32.eqz (local.get 0)))
      (local.set 1 (i32.add (local.get 1) (local.get 0)))
      (local.set 0 (i32.sub (local.get 0) (i32.const 1))) (br 0)))
    (local.get 1))
  (func $switch (param i32) (result i32)
    (block (result i32) (block (block (block
      (br_table 0 1 2 (i32.const 10) (local.get 0)))
      (return (i32.const 100))) (return (i32.const 101))) (return (i32.const 102))))
  (func $table_value (param i32) (result i32)
    (i32.add (i32.const 1000)
      (block (result i32) (block (result i32) (br_table 0 1 0 (i32.const 7) (local.get 0))) (i32.const 3) (i32.add))))
  (func $select (param i32 i64 i64) (result i64) (select (local.get 1) (local.get 2) (local.get 0)))
  (func $tee (param i32) (result i32) (local i32) (i32.add (local.tee 1 (i32.mul (local.get 0) (i32.const 3))) (local.get 1)))
  (func $early (param i32) (result i32) (if (local.get 0) (then (return (i32.const 7)))) (i32.const 9))
  (func $brif_value (param i32) (result i32) (block (result i32) (drop (br_if 0 (i32.const 5) (local.get 0))) (i32.const 6)))
  (func $nop_drop (result i32) nop (drop (i64.const 3)) (i32.const 4))
  (func $unreachable unreachable)
  (func $deep (param i32) (result i32) (if (result i32) (local.get 0) (then (i32.add (i32.const 1) (call $deep (i32.sub (local.get 0) (i32.const 1))))) (else (i32.const 0))))
  (func $many (param i32 i64 i32 i64 i32 i64 i32 i64 i32) (result i64)
    (i64.add (i64.add (i64.add (i64.extend_i32_u (local.get 0)) (local.get 1)) (i64.add (i64.extend_i32_u (local.get 2)) (local.get 3)))
      (i64.add (i64.add (i64.add (i64.extend_i32_u (local.get 4)) (local.get 5)) (i64.add (i64.extend_i32_u (local.get 6)) (local.get 7)))
        (i64.mul (i64.extend_i32_u (local.get 8)) (i64.const 1000)))))
  (func $call_many (result i64) (call $many (i32.const 1) (i64.const 2) (i32.const 3) (i64.const 4) (i32.const 5) (i64.const 6) (i32.const 7) (i64.const 8) (i32.const 9)))
  (func $multi_block (param i32 i32) (result i32)
    (local.get 0) (local.get 1)
    (block (param i32 i32) (result i32) (i32.sub)))
)`;

for (const { arch, regalloc, name } of TARGETS) {
  test(`control flow, locals, select and calls (${name})`, async (t) => {
    const inst = await instantiate(await watModule(CONTROL), arch, {}, regalloc);
    t.is(inst.call(0, [10]), 3628800n);
    t.is(inst.call(1, [100]), 5050n);
    t.deepEqual([0, 1, 2, 3, 99].map((i) => inst.call(2, [i])), [100n, 101n, 102n, 102n, 102n]);
    t.deepEqual([0, 1, 2, 3].map((i) => inst.call(3, [i])), [1010n, 1007n, 1010n, 1010n]);
    t.is(inst.call(4, [1, 11, 22]), 11n);
    t.is(inst.call(4, [0, 11, 22]), 22n);
    t.is(inst.call(5, [7]), 42n);
    t.is(inst.call(6, [1]), 7n);
    t.is(inst.call(6, [0]), 9n);
    t.is(inst.call(7, [1]), 5n);
    t.is(inst.call(7, [0]), 6n);
    t.is(inst.call(8), 4n);
    t.is(inst.call(12), 1n + 2n + 3n + 4n + 5n + 6n + 7n + 8n + 9000n);
    t.is(inst.call(11, [1, 2, 3, 4, 5, 6, 7, 8, 2]), 2036n);
    t.is(u32(inst.call(13, [50, 8])), 42n);
    const e = t.throws(() => inst.call(9), { instanceOf: GuestTrap })!;
    t.is(trapCodeAt(inst, e), 'UnreachableCodeReached');
    t.is(inst.call(10, [100]), 100n);
  });

  test(`the stack-limit check traps with StackOverflow before the frame is allocated (${name})`, async (t) => {
    const inst = await instantiate(await watModule(CONTROL), arch, {}, regalloc);
    const e = t.throws(() => inst.call(10, [1_000_000]), { instanceOf: GuestTrap })!;
    t.is(trapCodeAt(inst, e), 'StackOverflow');
    // The limit was honoured: SP never went below it.
    const limit = inst.machine.stack.region.address + 0x10000n;
    t.true(inst.machine.sp() >= limit - 16n);
  });
}

const MEMORY = `(module
  (memory 1)
  (data (i32.const 16) "\\01\\02\\03\\04\\85\\86\\87\\88")
  (func (param i32) (result i32) (i32.load (local.get 0)))
  (func (param i32) (result i64) (i64.load offset=4 (local.get 0)))
  (func (param i32) (result i32) (i32.load8_s (local.get 0)))
  (func (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (param i32) (result i32) (i32.load16_s (local.get 0)))
  (func (param i32) (result i32) (i32.load16_u (local.get 0)))
  (func (param i32) (result i64) (i64.load8_s (local.get 0)))
  (func (param i32) (result i64) (i64.load8_u (local.get 0)))
  (func (param i32) (result i64) (i64.load16_s (local.get 0)))
  (func (param i32) (result i64) (i64.load16_u (local.get 0)))
  (func (param i32) (result i64) (i64.load32_s (local.get 0)))
  (func (param i32) (result i64) (i64.load32_u (local.get 0)))
  (func (param i32 i32) (i32.store (local.get 0) (local.get 1)))
  (func (param i32 i64) (i64.store (local.get 0) (local.get 1)))
  (func (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
  (func (param i32 i32) (i32.store16 (local.get 0) (local.get 1)))
  (func (param i32 i64) (i64.store8 (local.get 0) (local.get 1)))
  (func (param i32 i64) (i64.store16 (local.get 0) (local.get 1)))
  (func (param i32 i64) (i64.store32 (local.get 0) (local.get 1)))
  (func (result i32) (memory.size))
  (func (param i32) (result i32) (memory.grow (local.get 0)))
  (func (param i32) (result i32) (i32.load offset=65535 (local.get 0)))
)`;

for (const { arch, regalloc, name } of TARGETS) {
  test(`loads and stores of every width, bounds checks, memory.size/grow (${name})`, async (t) => {
    const inst = await instantiate(await watModule(MEMORY), arch, {}, regalloc);
    const mem = inst.memoryBase!;
    t.is(u32(inst.call(0, [16])), 0x04030201n);
    t.is(inst.call(1, [16]), 0x0000000088878685n + 0n * 1n);
    t.is(u32(inst.call(2, [20])), 0xffffff85n);
    t.is(u32(inst.call(3, [20])), 0x85n);
    t.is(u32(inst.call(4, [20])), 0xffff8685n);
    t.is(u32(inst.call(5, [20])), 0x8685n);
    t.is(inst.call(6, [20]), 0xffffffffffffff85n);
    t.is(inst.call(7, [20]), 0x85n);
    t.is(inst.call(8, [20]), 0xffffffffffff8685n);
    t.is(inst.call(9, [20]), 0x8685n);
    t.is(inst.call(10, [20]), 0xffffffff88878685n);
    t.is(inst.call(11, [20]), 0x88878685n);
    inst.call(12, [100, 0xdeadbeef]);
    t.is(inst.machine.readU64(mem + 100n), 0xdeadbeefn);
    inst.call(13, [200, 0x1122334455667788n]);
    t.is(inst.machine.readU64(mem + 200n), 0x1122334455667788n);
    inst.call(14, [300, 0x1ff]);
    inst.call(15, [302, 0x12345]);
    t.is(inst.machine.readU32(mem + 300n), 0x2345_00ff);
    inst.call(16, [400, 0xabn]);
    inst.call(17, [402, 0xcdefn]);
    inst.call(18, [404, 0x123456789n]);
    t.is(inst.machine.readU64(mem + 400n), 0x23456789_cdef_00abn);
    t.is(u32(inst.call(19)), 1n);
    // Last in-bounds word, then one byte over: HeapOutOfBounds on a listed trap site.
    t.is(u32(inst.call(0, [65532])), 0n);
    for (const [fn, addr] of [[0, 65533], [0, 0xffffffff], [12, 65533], [21, 2], [1, 65528]] as const) {
      const e = t.throws(() => inst.call(fn, [addr, 0]), { instanceOf: GuestTrap })!;
      t.is(trapCodeAt(inst, e), 'HeapOutOfBounds', `fn ${fn} addr ${addr}`);
    }
    t.is(u32(inst.call(20, [1])), 1n);
    t.is(u32(inst.call(21, [0])), 0n);
    t.is(u32(inst.call(19)), 2n);
    t.is(u32(inst.call(0, [65533])), 0n); // in bounds after growing
    t.is(u32(inst.call(20, [5])), 0xffffffffn);
  });
}

const GLOBALS_CALLS = `(module
  (type $ii (func (param i32) (result i32)))
  (type $v (func (result i32)))
  (import "env" "add3" (func $add3 (param i32 i32 i32) (result i32)))
  (import "env" "ext" (global $imported i64))
  (global $g32 (mut i32) (i32.const -5))
  (global $g64 (mut i64) (i64.const 0x123456789))
  (global $fr (mut funcref) (ref.func $double))
  (table $t 4 funcref)
  (elem (table $t) (i32.const 0) func $double $square $seven)
  (func $double (type $ii) (i32.mul (local.get 0) (i32.const 2)))
  (func $square (type $ii) (i32.mul (local.get 0) (local.get 0)))
  (func $seven (type $v) (i32.const 7))
  (func $get32 (result i32) (global.get $g32))
  (func $set32 (param i32) (global.set $g32 (local.get 0)))
  (func $get64 (result i64) (global.get $g64))
  (func $set64 (param i64) (global.set $g64 (local.get 0)))
  (func $getimp (result i64) (global.get $imported))
  (func $callimp (param i32) (result i32) (call $add3 (local.get 0) (i32.const 10) (i32.const 100)))
  (func $indirect (param i32 i32) (result i32) (call_indirect $t (type $ii) (local.get 1) (local.get 0)))
  (func $tsize (result i32) (table.size $t))
  (func $tget_is_null (param i32) (result i32) (ref.is_null (table.get $t (local.get 0))))
  (func $tset (param i32 i32) (table.set $t (local.get 0) (table.get $t (local.get 1))))
  (func $reffunc_store (param i32) (table.set $t (local.get 0) (ref.func $square)))
  (func $grow (param i32) (result i32) (table.grow $t (ref.null func) (local.get 0)))
  (func $fill (param i32 i32) (table.fill $t (local.get 0) (global.get $fr) (local.get 1)))
  (func $nullref (result i32) (ref.is_null (ref.null func)))
)`;

for (const { arch, regalloc, name } of TARGETS) {
  test(`globals, imported calls, call_indirect, funcref tables (${name})`, async (t) => {
    const mod = await watModule(GLOBALS_CALLS);
    const seen: bigint[][] = [];
    const inst = await instantiate(mod, arch, {
      functions: new Map([[0, (args: bigint[]) => { seen.push(args); return u32(args[2]) + u32(args[3]) + u32(args[4]); }]]),
    }, regalloc);
    // imported global: point its VMGlobalImport.from at a definition we own.
    const importedDef = inst.vmctx + 0x8000n;
    inst.machine.writeU64(importedDef, 0x55aa55aa55n);
    inst.machine.writeU64(inst.vmctx + BigInt(inst.image.offsets.vmctxVmglobalImportFrom(0)), importedDef);
    const f = (name: string): number => {
      const e = mod.names.functions;
      for (const [idx, n] of e) if (n === name) return idx;
      throw new Error(name);
    };
    t.is(u32(inst.call(f('get32'))), 0xfffffffbn);
    inst.call(f('set32'), [77]);
    t.is(u32(inst.call(f('get32'))), 77n);
    t.is(inst.call(f('get64')), 0x123456789n);
    inst.call(f('set64'), [-2n]);
    t.is(inst.call(f('get64')), 0xfffffffffffffffen);
    t.is(inst.call(f('getimp')), 0x55aa55aa55n);
    t.is(u32(inst.call(f('callimp'), [5])), 115n);
    t.is(seen[0][0], inst.vmctx + 0x5000n, 'callee vmctx comes from the VMFunctionImport');
    t.is(seen[0][1], inst.vmctx, 'caller vmctx is our own');
    t.is(u32(inst.call(f('indirect'), [0, 21])), 42n);
    t.is(u32(inst.call(f('indirect'), [1, 9])), 81n);
    const bad = t.throws(() => inst.call(f('indirect'), [2, 1]), { instanceOf: GuestTrap })!;
    t.is(trapCodeAt(inst, bad), 'BadSignature');
    const nul = t.throws(() => inst.call(f('indirect'), [3, 1]), { instanceOf: GuestTrap })!;
    t.is(trapCodeAt(inst, nul), 'IndirectCallToNull');
    const oob = t.throws(() => inst.call(f('indirect'), [4, 1]), { instanceOf: GuestTrap })!;
    t.is(trapCodeAt(inst, oob), 'TableOutOfBounds');
    t.is(u32(inst.call(f('tsize'))), 4n);
    t.is(u32(inst.call(f('tget_is_null'), [0])), 0n);
    t.is(u32(inst.call(f('tget_is_null'), [3])), 1n);
    // Lazy init: an entry of 0 goes through table_get_lazy_init_func_ref.
    const lazyBefore = inst.builtinCalls.filter((c) => c.name === 'table_get_lazy_init_func_ref').length;
    inst.call(f('tget_is_null'), [3]);
    t.true(inst.builtinCalls.filter((c) => c.name === 'table_get_lazy_init_func_ref').length > lazyBefore);
    inst.call(f('tset'), [3, 1]);
    t.is(u32(inst.call(f('indirect'), [3, 6])), 36n);
    t.is(inst.machine.readU64(inst.tableBases[0] + 24n) & 1n, 1n, 'table.set stores FUNCREF_INIT_BIT');
    inst.call(f('reffunc_store'), [0]);
    t.is(u32(inst.call(f('indirect'), [0, 5])), 25n);
    t.is(u32(inst.call(f('grow'), [2])), 4n);
    t.is(u32(inst.call(f('tsize'))), 6n);
    inst.call(f('fill'), [4, 2]);
    t.is(u32(inst.call(f('indirect'), [5, 8])), 16n);
    t.is(u32(inst.call(f('nullref'))), 1n);
  });
}

const EXTERNREF = `(module
  (import "env" "observe" (func $observe (param externref i32) (result i32)))
  (table $t 8 externref)
  (global $eg (mut externref) (ref.null extern))
  (func $get (param i32) (result externref) (table.get $t (local.get 0)))
  (func $set (param i32 externref) (table.set $t (local.get 0) (local.get 1)))
  (func $gget (result externref) (global.get $eg))
  (func $gset (param externref) (global.set $eg (local.get 0)))
  (func $grow (param externref i32) (result i32) (table.grow $t (local.get 0) (local.get 1)))
  (func $fill (param i32 externref i32) (table.fill $t (local.get 0) (local.get 1) (local.get 2)))
  (func $is_null (param externref) (result i32) (ref.is_null (local.get 0)))
  (func $sel (param externref externref i32) (result externref) (select (result externref) (local.get 0) (local.get 1) (local.get 2)))
  ;; a and b are live across the call (b through a local used afterwards, a on the operand stack)
  (func $keep (param $a externref) (param $b externref) (param $dead externref) (result i32)
    (local.get $a)
    (call $observe (local.get $dead) (i32.const 1))
    (drop)
    (drop (call $observe (local.get $b) (i32.const 2)))
    (ref.is_null))
)`;

for (const { arch, regalloc, name } of TARGETS) {
  test(`externref tables, barriers, globals and libcalls (${name})`, async (t) => {
    const mod = await watModule(EXTERNREF);
    const observed: { fp: bigint; map: bigint[] | null }[] = [];
    let inst: TestInstance;
    inst = await instantiate(mod, arch, {
      functions: new Map([[0, (_args: bigint[], call) => {
        const map = inst.stackMapAt(call.returnAddress);
        observed.push({ fp: call.fp, map: map === undefined ? null : liveWords(inst.machine, call.fp, map) });
        return 0n;
      }]]),
    }, regalloc);
    const r1 = inst.newExternref();
    const r2 = inst.newExternref();
    const r3 = inst.newExternref();
    // table.set barrier: new value counted.
    inst.call(2, [0, r1]);
    t.is(inst.refCount(r1), 1n);
    inst.call(2, [1, r1]);
    t.is(inst.refCount(r1), 2n);
    // Overwrite: old loses one, new gains one; no drop while the count stays above zero.
    inst.call(2, [1, r2]);
    t.is(inst.refCount(r1), 1n);
    t.is(inst.refCount(r2), 1n);
    // Reaching zero calls drop_externref with the old pointer.
    inst.call(2, [0, 0n]);
    t.is(inst.refCount(r1), 0n);
    const drops = inst.builtinCalls.filter((c) => c.name === 'drop_externref');
    t.is(drops.length, 1);
    t.is(drops[0].args[1], r1);
    // table.get: the first four go through the inline bump (chunk of 4), then the libcall.
    for (let i = 0; i < 6; i++) t.is(inst.call(1, [1]), r2);
    t.is(inst.refCount(r2), 1n + 6n);
    const inserts = inst.builtinCalls.filter((c) => c.name === 'activations_table_insert_with_gc');
    t.is(inserts.length, 2);
    // The element being inserted is live across the libcall: its slot is in the map.
    for (const c of inserts) t.deepEqual(c.mappedValues, [r2]);
    t.is(inst.call(1, [5]), 0n);
    const oob = t.throws(() => inst.call(1, [8]), { instanceOf: GuestTrap })!;
    t.is(trapCodeAt(inst, oob), 'TableOutOfBounds');
    // Globals go through the libcalls.
    inst.call(4, [r3]);
    t.is(inst.call(3), r3);
    t.deepEqual(inst.builtinCalls.filter((c) => c.name === 'externref_global_set').map((c) => c.args.slice(1)), [[0n, r3]]);
    // grow/fill
    t.is(u32(inst.call(5, [r3, 2])), 8n);
    inst.call(6, [2, r3, 3]);
    t.is(inst.call(1, [4]), r3);
    t.is(u32(inst.call(7, [0])), 1n);
    t.is(u32(inst.call(7, [r1])), 0n);
    t.is(inst.call(8, [r1, r2, 1]), r1);
    t.is(inst.call(8, [r1, r2, 0]), r2);
    // Stack maps seen from inside the callee: first call keeps a (operand stack) and b (local),
    // not the dead parameter; the second keeps a only (b is consumed, dead afterwards).
    observed.length = 0;
    t.is(u32(inst.call(9, [r1, r2, r3])), 0n);
    t.deepEqual(observed.map((o) => [...(o.map ?? [])].sort()), [[r1, r2].sort(), [r1]]);
  });
}

const FRAMES = `(module
  (type $many (func (param i32 i64 i32 i64 i32 i64 i32 i64 i32) (result i64)))
  (import "env" "walk" (func $walk (param i32) (result i32)))
  (import "env" "many" (func $many_import (type $many)))
  (table 2 funcref)
  (elem (i32.const 0) func $many_defined)
  (memory 1)
  (func $many_defined (type $many)
    (i64.add (i64.add (i64.extend_i32_u (local.get 0)) (local.get 7)) (i64.mul (i64.extend_i32_u (local.get 8)) (i64.const 10))))
  (func $via_import (result i64) (call $many_import (i32.const 1) (i64.const 2) (i32.const 3) (i64.const 4) (i32.const 5) (i64.const 6) (i32.const 7) (i64.const 8) (i32.const 9)))
  (func $via_table (result i64) (call_indirect (type $many) (i32.const 1) (i64.const 2) (i32.const 3) (i64.const 4) (i32.const 5) (i64.const 6) (i32.const 7) (i64.const 8) (i32.const 9) (i32.const 0)))
  ;; outer keeps $a in a local across the call; inner keeps $b on its operand stack
  (func $inner (param $b externref) (result externref)
    (local.get $b) (drop (call $walk (i32.const 1))))
  (func $outer (param $a externref) (param $b externref) (result i32)
    (drop (call $inner (local.get $b)))
    (ref.is_null (local.get $a)))
  ;; a 40 KiB frame: the 32 KiB stack-check path, the zeroing loop, far slot offsets
  (func $big (param i64) (result i64) (local ${'i64 '.repeat(5000)})
    (local.set 4999 (local.get 0))
    (local.set 17 (i64.const 5))
    (i64.add (local.get 4999) (i64.add (local.get 17) (local.get 4000))))
  (func $bulk (param i32 i32 i32)
    (memory.fill (local.get 0) (local.get 1) (local.get 2))
    (memory.copy (local.get 1) (local.get 0) (local.get 2))
    (table.copy (i32.const 0) (i32.const 1) (i32.const 1)))
)`;

for (const { arch, regalloc, name } of TARGETS) {
  test(`stack arguments, a GC-style frame walk, big frames and bulk libcalls (${name})`, async (t) => {
    const mod = await watModule(FRAMES);
    let inst: TestInstance;
    const walked: bigint[][] = [];
    inst = await instantiate(mod, arch, {
      functions: new Map([
        [0, (_args: bigint[], call: HostCall) => {
          // Walk the Wasm frames the way the GC does: map of frame k keyed by its return
          // address, FP of the next older frame at [FP], its return address at [FP + 8].
          const values: bigint[] = [];
          let fp = call.fp;
          let ra = call.returnAddress;
          for (;;) {
            const map = inst.stackMapAt(ra);
            if (map === undefined) break;
            values.push(...liveWords(inst.machine, fp, map));
            ra = inst.machine.readU64(fp + 8n);
            fp = inst.machine.readU64(fp);
          }
          walked.push(values);
          return 0n;
        }],
        [1, (args: bigint[]) => args.slice(2).reduce((s, v, k) => s + BigInt.asUintN(k % 2 === 0 ? 32 : 64, v) * BigInt(k + 1), 0n)],
      ]),
    }, regalloc);
    t.is(inst.call(3), 1n * 1n + 2n * 2n + 3n * 3n + 4n * 4n + 5n * 5n + 6n * 6n + 7n * 7n + 8n * 8n + 9n * 9n);
    t.is(inst.call(4), 1n + 8n + 90n);
    const a = inst.newExternref();
    const b = inst.newExternref();
    t.is(inst.call(6, [a, b]), 0n);
    t.deepEqual(walked, [[b, a]]);
    t.is(inst.call(7, [37n]), 42n);
    inst.call(8, [16, 0x5a, 4]);
    const mem = inst.memoryBase!;
    t.is(inst.machine.readU32(mem + 16n), 0x5a5a5a5a);
    t.deepEqual(inst.builtinCalls.filter((c) => ['memory_fill', 'memory_copy', 'table_copy'].includes(c.name)).map((c) => [c.name, c.args.slice(1)]), [
      ['memory_fill', [0n, 16n, 0x5an, 4n]],
      ['memory_copy', [0n, 0x5an, 0n, 16n, 4n]],
      ['table_copy', [0n, 0n, 0n, 1n, 1n]],
    ]);
  });
}

const IMPORTED = `(module
  (import "env" "mem" (memory 1))
  (import "env" "tab" (table 2 funcref))
  (type $v (func (result i32)))
  (func $k (type $v) (i32.const 99))
  (elem declare func $k)
  (func $load (param i32) (result i32) (i32.load (local.get 0)))
  (func $store (param i32 i32) (i32.store (local.get 0) (local.get 1)))
  (func $size (result i32) (memory.size))
  (func $tsize (result i32) (table.size 0))
  (func $set (param i32) (table.set 0 (local.get 0) (ref.func $k)))
  (func $call (param i32) (result i32) (call_indirect (type $v) (local.get 0)))
)`;

for (const { arch, regalloc, name } of TARGETS) {
  test(`imported memory and table are reached through their import records (${name})`, async (t) => {
    const inst = await instantiate(await watModule(IMPORTED), arch, {}, regalloc);
    const m = inst.machine;
    const o = inst.image.offsets;
    // A memory definition and a table definition owned by "another instance".
    // One accessible page; the Machine leaves the page after a region unmapped.
    const region = m.map('foreign-memory', 65536, 3);
    const memDef = inst.vmctx + 0x9000n;
    m.writeU64(memDef, region.address);
    m.writeU64(memDef + 8n, 65536n);
    m.writeU64(inst.vmctx + BigInt(o.vmctxVmmemoryImportFrom(0)), memDef);
    const tableBase = inst.vmctx + 0x9100n;
    const tableDef = inst.vmctx + 0x9200n;
    m.writeU64(tableDef, tableBase);
    m.writeU32(tableDef + 8n, 2);
    m.writeU64(inst.vmctx + BigInt(o.vmctxVmtableImportFrom(0)), tableDef);
    m.writeU32(region.address + 40n, 0xfeedf00d);
    t.is(u32(inst.call(1, [40])), 0xfeedf00dn);
    inst.call(2, [44, 1234]);
    t.is(m.readU32(region.address + 44n), 1234);
    t.is(u32(inst.call(3)), 1n);
    const oob = t.throws(() => inst.call(1, [65534]), { instanceOf: GuestTrap })!;
    t.is(trapCodeAt(inst, oob), 'HeapOutOfBounds');
    t.is(u32(inst.call(4)), 2n);
    inst.call(5, [1]);
    t.is(m.readU64(tableBase + 8n) & 1n, 1n);
    t.is(u32(inst.call(6, [1])), 99n);
    const tob = t.throws(() => inst.call(6, [2]), { instanceOf: GuestTrap })!;
    t.is(trapCodeAt(inst, tob), 'TableOutOfBounds');
  });
}

const SEGMENTS = `(module
  (memory 1)
  (table 4 funcref)
  (global $gf (mut funcref) (ref.null func))
  (elem $e func $f)
  (data $d "abc")
  (func $f (result i32) (i32.const 5))
  (func $segs (param i32 i32 i32)
    (table.init $e (local.get 0) (local.get 1) (local.get 2))
    (elem.drop $e)
    (memory.init $d (local.get 0) (local.get 1) (local.get 2))
    (data.drop $d))
  (func $gfset (global.set $gf (ref.func $f)))
  (func $gfnull (result i32) (ref.is_null (global.get $gf)))
)`;

for (const { arch, regalloc, name } of TARGETS) {
  test(`segment libcalls and funcref globals (${name})`, async (t) => {
    const inst = await instantiate(await watModule(SEGMENTS), arch, {}, regalloc);
    inst.call(1, [7, 8, 9]);
    t.deepEqual(inst.builtinCalls.map((c) => [c.name, c.args.slice(1)]), [
      ['table_init', [0n, 0n, 7n, 8n, 9n]],
      ['elem_drop', [0n]],
      ['memory_init', [0n, 0n, 7n, 8n, 9n]],
      ['data_drop', [0n]],
    ]);
    t.is(u32(inst.call(3)), 1n);
    inst.call(2);
    t.is(u32(inst.call(3)), 0n);
  });
}
