import test from 'ava';
import { parseWat } from '../compiler/frontend/index.ts';
import {
  VMCONTEXT_MAGIC, VMFuncRefLayout, VMFunctionImportLayout, VMMemoryDefinitionLayout, VMMemoryImportLayout,
  VMRuntimeLimitsLayout, VMTableDefinitionLayout, VMTableImportLayout,
} from '../compiler/vmoffsets.ts';
import { GuestTrap } from '../simulator/trap.ts';
import { PROT_EXEC, PROT_READ } from '../simulator/engine.ts';
import { WasmTrap, InstantiationError } from './errors.ts';
import { STACK_LIMIT_UNSET, VMRuntimeLimits } from './limits.ts';
import { LinearMemory, WASM_PAGE_SIZE } from './memory.ts';
import { NO_SIGNATURE } from './signatures.ts';
import { FUNCREF_INIT_BIT, RuntimeTable } from './table.ts';
import { ARCHES, testEnvironment } from './testing.ts';
import { NO_IMPORTS, VMContextInstance, type DefinedFunctionCode } from './vmcontext.ts';

const fakeCode = (n: number): DefinedFunctionCode[] =>
  Array.from({ length: n }, (_, i) => ({ wasmCall: 0x1000n + BigInt(i), nativeCall: 0x2000n + BigInt(i), arrayCall: 0x3000n + BigInt(i) }));

test('VMRuntimeLimits: 48 bytes, stack_limit starts all-ones, each field at its VMOffsets offset', async (t) => {
  const env = await testEnvironment('x64');
  const m = env.machine;
  const limits = VMRuntimeLimits.allocate(m, env.heap);
  t.is(m.readU64(limits.address + BigInt(VMRuntimeLimitsLayout.stackLimit)), STACK_LIMIT_UNSET);
  for (const f of ['fuelConsumed', 'epochDeadline', 'lastWasmExitFp', 'lastWasmExitPc', 'lastWasmEntrySp'] as const) {
    t.is(m.readU64(limits.address + BigInt(VMRuntimeLimitsLayout[f])), 0n, f);
  }
  const fields = ['stackLimit', 'fuelConsumed', 'epochDeadline', 'lastWasmExitFp', 'lastWasmExitPc', 'lastWasmEntrySp'] as const;
  fields.forEach((f, i) => { limits[f] = 0x1111_0000n + BigInt(i); });
  fields.forEach((f, i) => t.is(m.readU64(limits.address + BigInt(VMRuntimeLimitsLayout[f])), 0x1111_0000n + BigInt(i), f));
  t.is(VMRuntimeLimitsLayout.size, 48);
  limits.fuelConsumed = -5n;
  t.is(limits.fuelConsumed, -5n);
  m.close();
});

const EXPORTER = `(module
  (memory (export "mem") 1 3)
  (table (export "tab") 4 funcref)
  (global (export "g") (mut i64) (i64.const 0x123456789))
  (func (export "f") (param i32) (result i32) local.get 0))`;

const SHAPE = `(module
  (import "e" "f" (func $imp (param i32) (result i32)))
  (import "e" "tab" (table 2 funcref))
  (import "e" "g" (global $ig (mut i64)))
  (table $own 3 10 funcref)
  (memory $m2 2 4)
  (global $a i32 (i32.const -2))
  (global $b i64 (i64.const 77))
  (global $c funcref (ref.func $two))
  (global $d (mut externref) (ref.null extern))
  (func $one (result i32) i32.const 1)
  (func $two (param i32 i32) (result i32) local.get 0)
  (export "one" (func $one))
  (elem (table $own) (i32.const 1) func $one $two)
  (data (memory $m2) (i32.const 65530) "hello!"))`;

for (const arch of ARCHES) {
  test(`${arch}: VMContext header, imports, definitions at the compiler's offsets`, async (t) => {
    const env = await testEnvironment(arch, 0x51n);
    const m = env.machine;
    const exporterModule = await parseWat(EXPORTER);
    const exporter = new VMContextInstance(env, exporterModule, fakeCode(1), NO_IMPORTS);
    exporter.initializeSegments();
    const module = await parseWat(SHAPE);
    const fImport = { wasmCall: 0xa0n, nativeCall: 0xa8n, arrayCall: 0xb0n, vmctx: exporter.address, typeId: exporter.typeIds[0] };
    const inst = new VMContextInstance(env, module, fakeCode(2), {
      functions: [fImport],
      tables: [{ table: exporter.tables[0], vmctx: exporter.address }],
      memories: [],
      globals: [{ address: exporter.globalAddress(0), type: { valType: 'i64', mutable: true } }],
    });
    inst.initializeSegments();
    const o = inst.offsets;
    const at = (off: number) => inst.address + BigInt(off);
    t.is(inst.address % 16n, 0n);
    // Header.
    t.is(m.readU32(at(o.vmctxMagic())), VMCONTEXT_MAGIC);
    t.is(Buffer.from(m.readBytes(at(0), 4)).toString('latin1'), 'core');
    t.is(m.readU64(at(o.vmctxRuntimeLimits())), env.limits.address);
    t.is(m.readU64(at(o.vmctxCallee())), 0n);
    t.is(m.readU64(at(o.vmctxEpochPtr())), env.epochAddress);
    t.is(m.readU64(at(o.vmctxExternrefActivationsTable())), env.activationsTableAddress);
    t.is(m.readU64(at(o.vmctxStore())), 0x51n);
    t.is(m.readU64(at(o.vmctxStore() + 8)), 0n);
    t.is(m.readU64(at(o.vmctxBuiltinFunctions())), env.builtinsArrayAddress);
    const sigs = m.readU64(at(o.vmctxSignatureIdsArray()));
    t.is(sigs, inst.signatureIdsAddress);
    module.types.forEach((ty, i) => t.is(m.readU32(sigs + BigInt(4 * i)), env.signatures.idOf(ty)));
    // (i32) -> i32 is canonicalised across modules.
    t.is(inst.typeIds[module.funcTypeIndices[0]], exporter.typeIds[exporterModule.funcTypeIndices[0]]);
    // VMFunctionImport.
    const fi = o.vmctxVmfunctionImport(0);
    t.is(m.readU64(at(fi + VMFunctionImportLayout.wasmCall)), 0xa0n);
    t.is(m.readU64(at(fi + VMFunctionImportLayout.nativeCall)), 0xa8n);
    t.is(m.readU64(at(fi + VMFunctionImportLayout.arrayCall)), 0xb0n);
    t.is(m.readU64(at(o.vmctxVmfunctionImportVmctx(0))), exporter.address);
    // VMTableImport: `from` is the exporter's inline VMTableDefinition.
    t.is(m.readU64(at(o.vmctxVmtableImportFrom(0))), exporter.address + BigInt(exporter.offsets.vmctxVmtableDefinition(0)));
    t.is(m.readU64(at(o.vmctxVmtableImport(0) + VMTableImportLayout.vmctx)), exporter.address);
    // VMMemoryImport (the subset allows one memory, so a second module imports it).
    const user = new VMContextInstance(env, await parseWat('(module (import "e" "mem" (memory 1)))'), [], {
      ...NO_IMPORTS, memories: [{ memory: exporter.memories[0], vmctx: exporter.address, index: 0 }],
    });
    const uo = user.offsets;
    t.is(m.readU64(user.address + BigInt(uo.vmctxVmmemoryImportFrom(0))), exporter.address + BigInt(exporter.offsets.vmctxVmmemoryDefinition(0)));
    t.is(m.readU64(user.address + BigInt(uo.vmctxVmmemoryImportVmctx(0))), exporter.address);
    t.is(m.readU32(user.address + BigInt(uo.vmctxVmmemoryImport(0) + VMMemoryImportLayout.index)), 0);
    t.is(user.memories[0], exporter.memories[0]);
    // VMGlobalImport and the exporter's VMGlobalDefinition.
    const ig = m.readU64(at(o.vmctxVmglobalImportFrom(0)));
    t.is(ig, exporter.globalAddress(0));
    t.is(m.readU64(ig), 0x123456789n);
    // VMTableDefinition of the defined table.
    const td = o.vmctxVmtableDefinition(0);
    const base = m.readU64(at(o.vmctxVmtableDefinitionBase(0)));
    t.is(base, inst.tables[1].base);
    t.is(m.readU32(at(td + VMTableDefinitionLayout.currentElements)), 3);
    // Memory pointer slot → owned VMMemoryDefinition.
    const owned = at(o.vmctxVmmemoryDefinition(0));
    t.is(m.readU64(at(o.vmctxVmmemoryPointer(0))), owned);
    t.is(m.readU64(owned + BigInt(VMMemoryDefinitionLayout.base)), inst.memories[0].base);
    t.is(m.readU64(at(o.vmctxVmmemoryDefinitionCurrentLength(0))), 2n * BigInt(WASM_PAGE_SIZE));
    // Defined globals, 16-aligned, initialisers evaluated.
    t.is(at(o.vmctxGlobalsBegin()) % 16n, 0n);
    t.is(m.readU64(at(o.vmctxVmglobalDefinition(0))), 0xfffffffen); // i32 -2, zero-extended
    t.is(m.readU64(at(o.vmctxVmglobalDefinition(0) + 8)), 0n);
    t.is(m.readU64(at(o.vmctxVmglobalDefinition(1))), 77n);
    t.is(m.readU64(at(o.vmctxVmglobalDefinition(3))), 0n);
    // The funcref global's initialiser made $two's VMFuncRef (written on demand).
    const two = 2;
    const fr = m.readU64(at(o.vmctxVmglobalDefinition(2)));
    t.is(fr, at(o.vmctxFuncRef(module.escapedIndex.get(two)!)));
    t.is(m.readU64(fr + BigInt(VMFuncRefLayout.nativeCall)), 0x2001n);
    t.is(m.readU64(fr + BigInt(VMFuncRefLayout.arrayCall)), 0x3001n);
    t.is(m.readU64(fr + BigInt(VMFuncRefLayout.wasmCall)), 0x1001n);
    t.is(m.readU32(fr + BigInt(VMFuncRefLayout.typeIndex)), env.signatures.idOf({ params: ['i32', 'i32'], results: ['i32'] }));
    t.is(m.readU64(fr + BigInt(VMFuncRefLayout.vmctx)), inst.address);
    // Data segment applied to the defined memory.
    t.deepEqual(Buffer.from(inst.memories[0].read(65530, 6)).toString(), 'hello!');
    m.close();
  });

  test(`${arch}: func_refs are lazy; table elements initialise on first read with bit 0 set`, async (t) => {
    const env = await testEnvironment(arch);
    const m = env.machine;
    const module = await parseWat(SHAPE.replace(/\(global \$c[^\n]*\n/, ''));
    const exporter = new VMContextInstance(env, await parseWat(EXPORTER), fakeCode(1), NO_IMPORTS);
    const inst = new VMContextInstance(env, module, fakeCode(2), {
      functions: [{ wasmCall: 1n, nativeCall: 2n, arrayCall: 3n, vmctx: exporter.address, typeId: exporter.typeIds[0] }],
      tables: [{ table: exporter.tables[0], vmctx: exporter.address }],
      memories: [],
      globals: [{ address: exporter.globalAddress(0), type: { valType: 'i64', mutable: true } }],
    });
    inst.initializeSegments();
    const o = inst.offsets;
    // Nothing asked for any funcref yet: every slot is still zero.
    for (let i = 0; i < module.counts.numEscapedFunctions; i++) {
      t.deepEqual([...m.readBytes(inst.address + BigInt(o.vmctxFuncRef(i)), 40)], new Array(40).fill(0));
    }
    const table = inst.tables[1];
    t.is(table.rawGet(1), 0n, 'element 1 not yet initialised');
    const one = table.getFuncRef(1);
    t.is(one, inst.address + BigInt(o.vmctxFuncRef(module.escapedIndex.get(1)!)));
    t.is(table.rawGet(1), one | FUNCREF_INIT_BIT);
    t.is(table.getFuncRef(0), 0n, 'null element');
    t.is(table.rawGet(0), 1n, 'initialised null = 1');
    t.not(m.readU32(one + BigInt(VMFuncRefLayout.typeIndex)), NO_SIGNATURE);
    t.throws(() => table.getFuncRef(3), { instanceOf: WasmTrap, message: /out of bounds table/ });
    m.close();
  });
}

test('linear memory: guard region faults, growth maps more pages in place', async (t) => {
  const env = await testEnvironment('x64');
  const m = env.machine;
  const mem = LinearMemory.create(m, { min: 1, max: 3, shared: false }, { guardBytes: 1n << 20n });
  const def = env.heap.alloc(16);
  mem.writeDefinition(def);
  t.is(mem.base % BigInt(WASM_PAGE_SIZE), 0n);
  t.is(m.readU64(def + 8n), 65536n);
  t.truthy(m.regionAt(mem.base + 65535n));
  t.is(m.regionAt(mem.base + 65536n), undefined, 'the byte after the accessible part is unmapped');
  t.is(mem.grow(1), 1);
  t.is(m.readU64(def + 8n), 131072n);
  t.is(m.readU64(def), mem.base, 'base never moves');
  mem.write(65534, Uint8Array.of(1, 2, 3, 4)); // spans the two mappings
  t.deepEqual([...mem.read(65534, 4)], [1, 2, 3, 4]);
  t.is(mem.grow(2), -1, 'beyond the maximum');
  t.is(mem.grow(1), 2);
  t.is(mem.grow(0), 3);
  const limited = LinearMemory.create(m, { min: 1, max: null, shared: false }, { guardBytes: 1n << 20n, maxAccessiblePages: 8 });
  t.is(limited.grow(8), -1, 'the resource limit refuses growth the type would allow');
  t.is(limited.grow(7), 1);
  t.is(limited.grow(1n << 40n), -1);
  t.throws(() => LinearMemory.create(m, { min: 9, max: null, shared: false }, { maxAccessiblePages: 8 }), { message: /exceeds the limit/ });
  // A later region must not land in the reservation or the guard.
  const other = m.map('after', 4096, PROT_READ);
  t.true(other.address >= mem.base + 3n * 65536n + (1n << 20n));
  // Guest code reading past the end faults as an unmapped read.
  const code = m.map('probe', 4096, PROT_READ | PROT_EXEC);
  m.writeBytes(code.address, Uint8Array.of(0x48, 0x8b, 0x07, 0xc3)); // mov rax, [rdi]; ret
  t.is(m.call(code.address, [mem.base + 8n]), 0x0000000000000000n);
  const e = t.throws(() => m.call(code.address, [mem.base + 3n * 65536n + 16n]));
  t.true(e instanceof GuestTrap && e.kind === 'read-unmapped');
  t.throws(() => mem.read(3 * 65536 - 2, 4), { instanceOf: WasmTrap, message: /out of bounds memory/ });
  m.close();
});

test('table growth moves the elements and rewrites the definition', async (t) => {
  const env = await testEnvironment('aarch64');
  const m = env.machine;
  const table = RuntimeTable.create(m, env.heap, { elemType: 'funcref', min: 2, max: 100 });
  table.setFuncRef(1, 0x4440n);
  const old = table.base;
  t.is(table.grow(10, 0x5550n), 2);
  t.not(table.base, old);
  t.is(m.readU64(table.definitionAddress), table.base);
  t.is(m.readU32(table.definitionAddress + 8n), 12);
  t.is(table.getFuncRef(1), 0x4440n);
  t.is(table.getFuncRef(11), 0x5550n);
  t.is(table.grow(89, 0n), -1);
  const open = RuntimeTable.create(m, env.heap, { elemType: 'funcref', min: 0, max: null });
  t.is(open.grow(0xffff_ffff, 0n), -1, 'the element limit refuses a huge growth without allocating');
  t.throws(() => table.fill(10, 0n, 3), { instanceOf: WasmTrap });
  m.close();
});

test('instantiation errors name the import at fault; data out of bounds traps', async (t) => {
  const env = await testEnvironment('x64');
  const module = await parseWat(SHAPE);
  t.throws(() => new VMContextInstance(env, module, fakeCode(2), NO_IMPORTS), { instanceOf: InstantiationError, message: /imports/ });
  const bad = await parseWat('(module (memory 1) (data (i32.const 65535) "ab"))');
  const inst = new VMContextInstance(env, bad, [], NO_IMPORTS);
  t.throws(() => inst.initializeSegments(), { instanceOf: WasmTrap, message: /out of bounds memory/ });
  env.machine.close();
});
