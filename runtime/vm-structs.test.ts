import test from 'ava';
import { VMFuncRefLayout, VMHostFuncContextLayout, VM_NATIVE_CALL_HOST_FUNC_MAGIC } from '../compiler/vmoffsets.ts';
import { PROT_READ, PROT_WRITE } from '../simulator/engine.ts';
import { Machine } from '../simulator/machine.ts';
import { readVMFuncRef, readValRaw, valRawSlot, writeGlobalStorage, writeHostFuncContext, writeVMFuncRef, writeValRaw } from './vm-structs.ts';

// v17's VMFuncRef: native_call 0, array_call 8, wasm_call 16, type_index 24 (u32 + padding),
// vmctx 32, size 40; ValRaw slots of 16 bytes; VMGlobalDefinition storage of 16 bytes.
test('VM structs are written at their layouts\' offsets and read back', async (t) => {
  const m = await Machine.create({ arch: 'x64' });
  try {
    const r = m.map('structs', 4096, PROT_READ | PROT_WRITE);
    const base = r.address;
    m.writeBytes(base, new Uint8Array(256).fill(0xaa));
    const fields = { nativeCall: 0x1111n, arrayCall: 0x2222n, wasmCall: 0x3333n, typeIndex: 7, vmctx: 0x4444n };
    writeVMFuncRef(m, base, fields);
    t.deepEqual([0, 8, 16, 24, 32].map((o) => m.readU64(base + BigInt(o))), [0x1111n, 0x2222n, 0x3333n, 7n, 0x4444n]);
    t.is(m.readU64(base + BigInt(VMFuncRefLayout.size)), 0xaaaaaaaaaaaaaaaan, 'nothing past the 40 bytes');
    t.deepEqual(readVMFuncRef(m, base), fields);

    const ctx = base + 64n;
    const funcRef = writeHostFuncContext(m, ctx, VM_NATIVE_CALL_HOST_FUNC_MAGIC, { nativeCall: 1n, arrayCall: 0n, wasmCall: 2n, typeIndex: 3 }, 9n);
    t.is(funcRef, ctx + 8n);
    t.is(m.readU32(ctx), VM_NATIVE_CALL_HOST_FUNC_MAGIC);
    t.is(m.readU64(funcRef + 32n), ctx, 'the inline VMFuncRef\'s vmctx is the context');
    t.is(m.readU64(ctx + BigInt(VMHostFuncContextLayout.hostState)), 9n);

    const buf = base + 160n;
    writeValRaw(m, buf, 2, 0x55n);
    t.is(valRawSlot(buf, 2), buf + 32n);
    t.deepEqual([m.readU64(buf + 32n), m.readU64(buf + 40n)], [0x55n, 0n]);
    t.is(readValRaw(m, buf, 2), 0x55n);
    writeGlobalStorage(m, base + 224n, 0x66n);
    t.deepEqual([m.readU64(base + 224n), m.readU64(base + 232n)], [0x66n, 0n]);
  } finally {
    m.close();
  }
});
