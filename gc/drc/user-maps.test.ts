/**
 * User stack maps end to end on both arches: Cranelift-shaped frames assembled for the real
 * ISA (a v31 entry trampoline that records its FP in VMStoreContext.last_wasm_entry_fp, two
 * Wasm-like functions whose frames hold 4-byte GC refs at SP offsets, two of them sharing one
 * 8-byte word), their maps through the `.stackscope.usermaps` codec into the registry, the v31
 * walk from the exit record a host function writes, the 4-byte roots, and the DRC collection.
 * Then the failures: corrupted typed entries and chains fail loudly.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { ARCHES, type Arch } from '../../isa/arch.ts';
import { Machine } from '../../simulator/machine.ts';
import { PROT_EXEC, PROT_READ, PROT_WRITE } from '../../simulator/engine.ts';
import { assemble } from '../../simulator/testing/asm.ts';
import { ImageFormatError } from '../../compiler/image-reader.ts';
import { writeImage } from '../../compiler/image.ts';
import { readElf } from '../../loader/elf.ts';
import { VMStoreContextLayout } from '../../compiler/v31/vmoffsets.ts';
import { encodeUserStackMaps, readUserStackMaps, type UserStackMapRecord } from '../../compiler/user-stackmaps.ts';
import { collectDrc, type DrcCollectionReport, type DrcRoot } from './collector.ts';
import { DrcHeap } from './heap.ts';
import { UserStackMapRegistry, UserStackMapRegistryError } from './user-stackmap-registry.ts';
import { drcExplanationToJson, renderDrcExplanation, V31Collector } from './v31-collector.ts';
import { readStoreContext, v31StackRoots, V31StackWalkError, walkV31, writeStoreContext, type V31Frame } from './walk.ts';

const ENTRY_FP = VMStoreContextLayout.lastWasmEntryFp;

/**
 * entry(ctx, target, a, b, host): stores its FP in ctx.last_wasm_entry_fp, calls target(a, b, host).
 * outer(a, b, host): 16-byte frame, ref b at SP+12; calls pair(a, b, host).
 * pair(a, b, host): 16-byte frame, ref a at SP+0 and ref b at SP+4 (one 8-byte word), junk at
 * SP+8; calls host().
 */
const SOURCE: Record<Arch, string> = {
  x64: `base:
  push rbp
  mov rbp, rsp
  mov [rdi + ${ENTRY_FP}], rbp
  mov rax, rsi
  mov rdi, rdx
  mov rsi, rcx
  mov rdx, r8
  call rax
  pop rbp
  ret
outer:
  push rbp
  mov rbp, rsp
  sub rsp, 16
  mov qword ptr [rsp], 0x235
  mov dword ptr [rsp + 8], 0x235
  mov [rsp + 12], esi
  call pair
outer_ret:
  add rsp, 16
  pop rbp
  ret
pair:
  push rbp
  mov rbp, rsp
  sub rsp, 16
  mov [rsp], edi
  mov [rsp + 4], esi
  mov qword ptr [rsp + 8], 0x235
  call rdx
pair_ret:
  add rsp, 16
  pop rbp
  ret
end:
  .p2align 2
  .long outer - base, outer_ret - base, pair - base, pair_ret - base, end - base
`,
  aarch64: `base:
  stp x29, x30, [sp, #-16]!
  mov x29, sp
  str x29, [x0, #${ENTRY_FP}]
  mov x9, x1
  mov x0, x2
  mov x1, x3
  mov x2, x4
  blr x9
  ldp x29, x30, [sp], #16
  ret
outer:
  stp x29, x30, [sp, #-16]!
  mov x29, sp
  sub sp, sp, #16
  mov x9, #0x235
  str x9, [sp]
  str w9, [sp, #8]
  str w1, [sp, #12]
  bl pair
outer_ret:
  add sp, sp, #16
  ldp x29, x30, [sp], #16
  ret
pair:
  stp x29, x30, [sp, #-16]!
  mov x29, sp
  sub sp, sp, #16
  str w0, [sp]
  str w1, [sp, #4]
  mov x9, #0x235
  str x9, [sp, #8]
  blr x2
pair_ret:
  add sp, sp, #16
  ldp x29, x30, [sp], #16
  ret
end:
  .p2align 2
  .long outer - base, outer_ret - base, pair - base, pair_ret - base, end - base
`,
};

function code(arch: Arch) {
  const bytes = assemble(arch, SOURCE[arch]);
  const tail = new DataView(bytes.buffer, bytes.byteOffset + bytes.length - 20, 20);
  const [outer, outerRet, pair, pairRet, end] = [0, 1, 2, 3, 4].map((i) => tail.getUint32(4 * i, true));
  return { bytes, outer, outerRet, pair, pairRet, end };
}

function mapsOf(c: ReturnType<typeof code>): UserStackMapRecord[] {
  return [
    { funcIndex: 0, textReturnOffset: c.outerRet, returnOffset: c.outerRet - c.outer, frameSize: 16, entries: [{ type: 'i32', offset: 12 }] },
    { funcIndex: 1, textReturnOffset: c.pairRet, returnOffset: c.pairRet - c.pair, frameSize: 16, entries: [{ type: 'i32', offset: 0 }, { type: 'i32', offset: 4 }] },
  ];
}

async function setUp(arch: Arch) {
  const m = await Machine.create({ arch });
  const c = code(arch);
  const text = m.map('v31-text', c.bytes.length, PROT_READ | PROT_EXEC);
  m.writeBytes(text.address, c.bytes);
  const storeContext = m.map('vmstore-context', VMStoreContextLayout.size, PROT_READ | PROT_WRITE).address;
  const heap = new DrcHeap(m);
  const registry = new UserStackMapRegistry();
  // The maps travel through the image section's bytes, as a loaded image's would.
  const maps = readUserStackMaps(encodeUserStackMaps(mapsOf(c)));
  registry.register({ name: 'fixture', textStart: text.address, textSize: c.end, maps, functionNames: new Map([[0, 'outer'], [1, 'pair']]) });
  return { m, c, text, storeContext, heap, registry };
}

for (const arch of ARCHES) {
  test(`${arch}: two 4-byte refs in one word are two roots; the v31 walk ends at the entry trampoline's FP`, async (t) => {
    const { m, c, text, storeContext, heap, registry } = await setUp(arch);
    try {
      const [a, b, dead] = ['a', 'b', 'dead'].map((v) => heap.allocExternRef(v)!);
      heap.exposeGcRefToWasm(a); // passing refs into Wasm moves them into the activations table
      heap.exposeGcRefToWasm(b);
      heap.exposeGcRefToWasm(dead);
      let frames: V31Frame[] = [];
      let roots: DrcRoot[] = [];
      let report: DrcCollectionReport | undefined;
      let pairWord = 0n;
      const host = m.addHostFunction('gc', 0, (_args, call) => {
        writeStoreContext(m, storeContext, { exitFp: call.fp, exitPc: call.returnAddress }); // the exit trampoline
        frames = walkV31(m, readStoreContext(m, storeContext));
        roots = v31StackRoots(m, frames, registry);
        pairWord = m.readU64(BigInt(frames[0].fp - 16));
        report = collectDrc(heap, roots);
      });
      m.call(text.address, [storeContext, text.address + BigInt(c.outer), BigInt(a), BigInt(b), host]);
      t.deepEqual(frames.map((f) => f.pc - Number(text.address)), [c.pairRet, c.outerRet]);
      t.is(pairWord, (BigInt(b) << 32n) | BigInt(a), 'one 8-byte word holds both refs: a bitmap map would read it as one value');
      t.deepEqual(roots.map((r) => [r.raw, r.frame, r.slot! - frames[r.frame === 'pair' ? 0 : 1].fp]), [
        [a, 'pair', -16], [b, 'pair', -12], [b, 'outer', -4],
      ]);
      t.deepEqual(report!.preciseRoots, [a, b]);
      t.deepEqual(report!.freed.map((f) => f.hostValue), ['dead'], 'only the ref no frame holds is freed');
      t.true(report!.allocatedChunk);
      // Back on the host, nothing is on the stack: the next collection frees a and b.
      const after = collectDrc(heap, []);
      t.deepEqual(after.freed.map((f) => f.hostValue).sort(), ['a', 'b']);
      t.deepEqual(heap.liveObjects(), []);
    } finally {
      m.close();
    }
  });

  test(`${arch}: a pc without an exact map has no roots; a pc outside every module and a broken chain fail loudly`, async (t) => {
    const { m, text, storeContext, heap, registry } = await setUp(arch);
    try {
      const stack = m.map('fake-stack', 4096, PROT_READ | PROT_WRITE);
      const base = stack.address + 1024n;
      // One frame whose return address is one byte past a mapped call site: exact lookup misses.
      m.writeU64(base, base + 64n); // saved FP = the entry trampoline's
      m.writeU64(base + 8n, 0x1234n);
      const pc = text.address + BigInt(code(arch).pairRet) + 1n;
      const frames = walkV31(m, { exitPc: pc, exitFp: base, entryFp: base + 64n });
      t.is(frames.length, 1);
      t.deepEqual(v31StackRoots(m, frames, registry), []);
      t.throws(() => v31StackRoots(m, [{ activation: 0, index: 0, pc: 0x10, fp: Number(base) }], registry), { instanceOf: V31StackWalkError, message: /no-module/ });
      // A chain whose saved FP points below itself.
      m.writeU64(base, base - 32n);
      t.throws(() => walkV31(m, { exitPc: pc, exitFp: base, entryFp: base + 64n }), { instanceOf: V31StackWalkError, message: /fp-not-increasing/ });
      t.throws(() => walkV31(m, { exitPc: pc, exitFp: base + 128n, entryFp: base + 64n }), { instanceOf: V31StackWalkError, message: /fp-above-entry-fp/ });
      t.throws(() => walkV31(m, { exitPc: 0n, exitFp: base, entryFp: 0n }), { instanceOf: V31StackWalkError, message: /bad-terminator/ });
      t.is(heap.liveObjects().length, 0);
      void storeContext;
    } finally {
      m.close();
    }
  });
}

test('the usermaps section: round trip, and every corrupted typed entry is refused by offset', (t) => {
  const c = code('x64');
  const maps = mapsOf(c);
  const bytes = encodeUserStackMaps(maps);
  t.deepEqual(readUserStackMaps(bytes), maps);
  t.is(new DataView(bytes.buffer).getUint32(0, true), 0x4d55_5353);
  const corrupt = (at: number, value: number, width: 1 | 4 = 4) => {
    const copy = bytes.slice();
    const v = new DataView(copy.buffer);
    if (width === 1) v.setUint8(at, value);
    else v.setUint32(at, value, true);
    return copy;
  };
  // Record 0 starts at 12: funcIndex, text ret, ret, frame size (24), count (28), entry type (32), offset (36).
  t.throws(() => readUserStackMaps(corrupt(36, 16)), { instanceOf: ImageFormatError, message: /i32 entry at SP\+16 lies outside the 16-byte frame/ });
  t.throws(() => readUserStackMaps(corrupt(36, 6)), { instanceOf: ImageFormatError, message: /not 4-byte aligned/ });
  t.throws(() => readUserStackMaps(corrupt(32, 0x42, 1)), { instanceOf: ImageFormatError, message: /unknown entry type 0x42/ });
  t.throws(() => readUserStackMaps(corrupt(24, 12)), { instanceOf: ImageFormatError, message: /frame size 12/ });
  t.throws(() => readUserStackMaps(corrupt(4, 2)), { instanceOf: ImageFormatError, message: /version 2/ });
  t.throws(() => readUserStackMaps(bytes.slice(0, bytes.length - 2)), { instanceOf: ImageFormatError });
  t.throws(() => encodeUserStackMaps([maps[1], maps[0]]), { instanceOf: ImageFormatError, message: /ascending/ });
  t.throws(() => encodeUserStackMaps([{ ...maps[0], entries: [{ type: 'i32', offset: 0 }, { type: 'i64', offset: 0 }] }]), { instanceOf: ImageFormatError, message: /not 8-byte aligned|overlap/ });
});

test('the registry refuses maps outside their text and overlapping modules; i64 entries are not v31 refs', async (t) => {
  const m = await Machine.create({ arch: 'x64' });
  try {
    const r = new UserStackMapRegistry();
    const map: UserStackMapRecord = { funcIndex: 0, textReturnOffset: 8, returnOffset: 8, frameSize: 16, entries: [{ type: 'i64', offset: 8 }] };
    t.throws(() => r.register({ name: 'm', textStart: 0x1000n, textSize: 4, maps: [map] }), { instanceOf: UserStackMapRegistryError, message: /beyond its 4-byte text/ });
    r.register({ name: 'm', textStart: 0x1000n, textSize: 64, maps: [map] });
    t.throws(() => r.register({ name: 'n', textStart: 0x1020n, textSize: 64, maps: [] }), { instanceOf: UserStackMapRegistryError, message: /overlaps/ });
    t.is(r.lookup(0x1008)?.map, map);
    t.is(r.lookup(0x1007), undefined, 'exact match only');
    const stack = m.map('s', 4096, PROT_READ | PROT_WRITE);
    t.throws(() => v31StackRoots(m, [{ activation: 0, index: 0, pc: 0x1008, fp: Number(stack.address) + 64 }], r), { instanceOf: V31StackWalkError, message: /v31 GC references are i32/ });
  } finally {
    m.close();
  }
});

test('an image may carry .stackscope.usermaps beside the v17 sections; the loader hands it back byte for byte', (t) => {
  const section = encodeUserStackMaps(mapsOf(code('aarch64')));
  const elf = writeImage({
    arch: 'aarch64', text: new Uint8Array(64), placed: [], moduleSection: new Uint8Array(4), stackMapSection: new Uint8Array(8), trapSection: new Uint8Array(4),
    userStackMapSection: section,
  });
  const obj = readElf(elf, 'usermaps.o');
  const found = obj.sections.find((s) => s.name === '.stackscope.usermaps');
  t.truthy(found);
  t.deepEqual(readUserStackMaps(found!.data), mapsOf(code('aarch64')));
  const plain = writeImage({ arch: 'aarch64', text: new Uint8Array(64), placed: [], moduleSection: new Uint8Array(4), stackMapSection: new Uint8Array(8), trapSection: new Uint8Array(4) });
  t.false(readElf(plain, 'plain.o').sections.some((s) => s.name === '.stackscope.usermaps'), 'v17 images have no such section');
});

for (const arch of ARCHES) {
  test(`${arch}: V31Collector explains a collection: typed entries with their slots, headers, the table and the frees`, async (t) => {
    const { m, c, text, storeContext, heap, registry } = await setUp(arch);
    try {
      const collector = new V31Collector({ machine: m, heap, registry, storeContext });
      const [a, b, dead] = ['a', 'b', 'dead'].map((v) => heap.allocExternRef(v)!);
      for (const r of [a, b, dead]) heap.exposeGcRefToWasm(r);
      let text1 = '';
      let json: any;
      const host = m.addHostFunction('gc', 0, (_args, call) => {
        writeStoreContext(m, storeContext, { exitFp: call.fp, exitPc: call.returnAddress });
        const { explanation } = collector.collect({ explain: true });
        text1 = renderDrcExplanation(explanation!);
        json = JSON.parse(JSON.stringify(drcExplanationToJson(explanation!)));
      });
      m.call(text.address, [storeContext, text.address + BigInt(c.outer), BigInt(a), BigInt(b), host]);
      const lines = text1.split('\n');
      t.regex(lines[0], new RegExp(`^DRC collection on ${arch} \\(wasmtime v31\\): 2 frames, 2 precise roots, 1 freed; heap at 0x[0-9a-f]+ \\(524288 bytes\\), 3 live objects before, 2 after`));
      t.true(lines.some((l) => /a0 f0 {2}pair \[fixture\] {2}pc 0x[0-9a-f]+ {2}fp 0x[0-9a-f]+ {2}sp 0x[0-9a-f]+ {2}frame 16 bytes/.test(l)));
      t.true(lines.some((l) => /sp\+0 {4}i32 {2}@ 0x[0-9a-f]+ {2}= 0x8 +ExternRef type none, 24 bytes, count 1, host value "a"/.test(l)), text1);
      t.true(lines.some((l) => /sp\+4 {4}i32 .*= 0x20 .*host value "b"/.test(l)));
      t.true(lines.some((l) => /sp\+12 {3}i32 .*= 0x20 /.test(l)));
      t.true(lines.includes('  before: chunk 0 slots, bump [], over-approximated {0x8, 0x20, 0x38}'));
      t.true(lines.includes('  after : chunk 1024 slots, bump [], over-approximated {0x8, 0x20}'));
      t.true(lines.includes('  0x38  ExternRef, 24 bytes, host value "dead"'));
      if (arch === 'x64') {
        const doc = readFileSync(new URL('../../docs/gc.md', import.meta.url), 'utf8');
        const block = doc.slice(doc.indexOf('## 7. The v31 profile')).split('```text\n')[1].split('\n```')[0];
        t.is(block, text1, 'docs/gc.md §7 shows exactly what the collector prints');
      }
      t.is(json.frames[0].entries[1].raw, '0x20');
      t.is(json.frames[0].entries[1].target.kind, 'ExternRef');
      t.is(json.frames[1].functionName, 'outer');
      t.deepEqual(json.freed, [{ ref: '0x38', kind: 'ExternRef', size: 24, hostValue: 'dead' }]);
      // Outside Wasm: no activation, no frames; the over-approximation is swept.
      writeStoreContext(m, storeContext, { exitPc: 0n, exitFp: 0n, entryFp: 0n });
      const after = collector.collect({ explain: true });
      t.regex(renderDrcExplanation(after.explanation!), /\(no Wasm frames\)[\s\S]*Freed:\n {2}0x8 {2}ExternRef/);
    } finally {
      m.close();
    }
  });
}
