/**
 * The image as other tools see it: readelf and objdump accept it, objdump's disassembly agrees
 * with stackscope's (Capstone) instruction by instruction, output is deterministic, and the
 * custom sections decode back to what the compiler produced (truncations give typed errors).
 */
import test, { type ExecutionContext } from 'ava';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Arch } from '../isa/arch.ts';
import { createDisassembler } from '../isa/disasm.ts';
import { readElf } from '../loader/elf.ts';
import { objdump, readelf, writeTemp } from '../loader/test-toolchain.ts';
import { compileModule, SECTION_MODULE, SECTION_STACKMAPS, SECTION_TRAPS } from './index.ts';
import { ImageFormatError, readModuleMetadata, readStackMaps, readTrapTable } from './image-reader.ts';
import { watModule } from './testing.ts';

const ARCHES = ['x64', 'aarch64'] as const satisfies readonly Arch[];

const SOURCE = `(module
  (type $ii (func (param i32) (result i32)))
  (import "env" "f" (func $f (param externref) (result i32)))
  (import "env" "m" (memory 1 4))
  (table $t 3 funcref)
  (table $e 2 externref)
  (global $g (mut i64) (i64.const -7))
  (global $r (mut externref) (ref.null extern))
  (elem (table $t) (i32.const 1) func $sq)
  (data (i32.const 8) "hi")
  (export "sq" (func $sq))
  (func $sq (type $ii) (i32.mul (local.get 0) (local.get 0)))
  (func $mix (param $x externref) (param i32) (result i32) (local externref)
    (local.set 2 (table.get $e (local.get 1)))
    (drop (call $f (local.get 2)))
    (table.set $e (i32.const 0) (local.get $x))
    (global.set $r (local.get 2))
    (i32.add (call_indirect $t (type $ii) (i32.load (local.get 1)) (local.get 1))
             (call $sq (i32.const 3))))
  (func $loop (param i32) (result i64) (local i64)
    (loop (local.set 1 (i64.add (local.get 1) (i64.extend_i32_u (local.get 0))))
      (br_if 0 (local.tee 0 (i32.sub (local.get 0) (i32.const 1)))))
    (local.get 1))
)`;

/** objdump's instructions: text offset, size, mnemonic, operands. */
function objdumpInstructions(arch: Arch, path: string): { offset: number; size: number; mnemonic: string; operands: string }[] {
  // -z: list zero padding too instead of eliding it as `...`.
  const args = arch === 'x64' ? ['-M', 'intel', '-d', '-z', '-j', '.text', '--insn-width=16'] : ['-d', '-z', '-j', '.text'];
  const out: { offset: number; size: number; mnemonic: string; operands: string }[] = [];
  for (const line of objdump(arch, args, path).split('\n')) {
    const m = /^\s*([0-9a-f]+):\t([0-9a-f ]+?)\s*\t(\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    const size = arch === 'x64' ? m[2].trim().split(/\s+/).length : 4;
    let mnemonic = m[3];
    let operands = m[4];
    if (mnemonic === 'lock') {
      const [mn, ...rest] = operands.split(/\s+/);
      mnemonic = `lock ${mn}`;
      operands = rest.join(' ');
    }
    out.push({ offset: parseInt(m[1], 16), size, mnemonic, operands });
  }
  return out;
}

/** One spelling for both tools: lower case, no spaces, `#`, symbols or comments, decimal numbers. */
function normalize(arch: Arch, text: string): string {
  let s = text.toLowerCase();
  s = arch === 'x64' ? s.replace(/\s#\s.*$/, '') : s.replace(/\/\/.*$/, '');
  s = s.replace(/\b([0-9a-f]+) <[^>]*>/g, '0x$1');
  if (arch === 'aarch64') s = s.replace(/\bcc\s*$/, 'lo').replace(/\bcs\s*$/, 'hs'); // condition aliases
  s = s.replace(/\s+/g, '').replace(/#/g, '').replace(/\*1(?=[\]+-])/g, '');
  s = s.replace(/(-?)(0x[0-9a-f]+|\d+)/g, (_, sign: string, n: string) => {
    let v = BigInt(n);
    if (v >= 1n << 63n) v -= 1n << 64n;
    // objdump prints 32-bit immediates unsigned (0xffffffff), Capstone signed (-1).
    if (v >= 1n << 31n && v < 1n << 32n) v -= 1n << 32n;
    return String(sign === '-' ? -v : v);
  });
  return s.replace(/\+-/g, '-');
}

for (const arch of ARCHES) {
  test(`readelf and objdump accept the image; objdump agrees with stackscope's disassembler (${arch})`, async (t) => {
    const image = compileModule(await watModule(SOURCE), { arch });
    await agreesWithObjdump(t, arch, image, true);
    // Every instruction form the code generator emits: all-instructions.wat plus wide frames.
    const all = readFileSync(fileURLToPath(new URL('./frontend/testdata/all-instructions.wat', import.meta.url)), 'utf8');
    await agreesWithObjdump(t, arch, compileModule(await watModule(all), { arch }));
    await agreesWithObjdump(t, arch, compileModule(await watModule(BIG), { arch }));
  });
}

const BIG = `(module (func (param i64) (result i64) (local ${'i64 '.repeat(5000)})
  (local.set 4999 (i64.popcnt (local.get 0))) (i64.div_s (local.get 4999) (i64.const 3))))`;

async function agreesWithObjdump(t: ExecutionContext, arch: Arch, image: ReturnType<typeof compileModule>, checkSections = false): Promise<void> {
  {
    const path = writeTemp(image.elf);
    if (checkSections) {
    const sections = readelf(['-W', '-S'], path);
    for (const name of ['.text', '.rela.text', SECTION_MODULE, SECTION_STACKMAPS, SECTION_TRAPS]) t.true(sections.includes(name), name);
    const symbols = readelf(['-W', '-s'], path);
    for (const f of image.functions) t.regex(symbols, new RegExp(`FUNC\\s+GLOBAL\\s+DEFAULT\\s+\\d+\\s+${f.symbol}\\b`));
    const relocs = readelf(['-W', '-r'], path);
    t.regex(relocs, arch === 'x64' ? /R_X86_64_PLT32\s+\S+\s+wasm_func_1 - 4/ : /R_AARCH64_CALL26\s+\S+\s+wasm_func_1 \+ 0/);
    }

    const theirs = objdumpInstructions(arch, path);
    const ours = createDisassembler(arch).disasm(image.text, 0n);
    t.is(ours.reduce((n, i) => n + i.size, 0), image.text.length);
    const mismatches: string[] = [];
    t.is(ours.length, theirs.length);
    const relocAt = new Map(image.functions.flatMap((f) => f.relocations.map((r) => [f.textOffset + r.offset, r.symbol] as const)));
    ours.forEach((insn, k) => {
      const o = theirs[k];
      if (o === undefined) return;
      // AArch64 objdump names conditions by their other alias and shows `bl` through its relocation.
      o.mnemonic = o.mnemonic.replace(/^b\.cc$/, 'b.lo').replace(/^b\.cs$/, 'b.hs');
      const viaReloc = /<(wasm_func_\d+)>$/.exec(o.operands);
      if (arch === 'aarch64' && insn.mnemonic === 'bl' && viaReloc && relocAt.get(o.offset) === viaReloc[1]) return;
      if (Number(insn.address) !== o.offset || insn.size !== o.size) mismatches.push(`boundary at ${o.offset}: ${insn.text} vs ${o.mnemonic}`);
      else if (insn.mnemonic !== o.mnemonic) mismatches.push(`mnemonic at ${o.offset}: ${insn.text} vs ${o.mnemonic} ${o.operands}`);
      else if (normalize(arch, insn.opStr) !== normalize(arch, o.operands)) mismatches.push(`operands at ${o.offset}: ${insn.text} vs ${o.mnemonic} ${o.operands}`);
    });
    t.deepEqual(mismatches, []);
  }
}

for (const arch of ARCHES) {
  test(`same input, same bytes (${arch})`, async (t) => {
    const a = compileModule(await watModule(SOURCE), { arch });
    const b = compileModule(await watModule(SOURCE), { arch });
    t.deepEqual(Buffer.from(a.elf), Buffer.from(b.elf));
    t.notDeepEqual(Buffer.from(a.elf), Buffer.from(compileModule(await watModule(SOURCE), { arch: arch === 'x64' ? 'aarch64' : 'x64' }).elf));
  });

  test(`custom sections decode back to the compiler's data (${arch})`, async (t) => {
    const module = await watModule(SOURCE);
    const image = compileModule(module, { arch });
    const elf = readElf(image.elf, 'image.o');
    const bytesOf = (name: string): Uint8Array => {
      const s = elf.sections.find((x) => x.name === name);
      if (!s) throw new Error(name);
      return s.data;
    };
    const meta = readModuleMetadata(bytesOf(SECTION_MODULE));
    t.is(meta.arch, arch);
    t.deepEqual(meta.counts, { ...module.counts });
    t.deepEqual(meta.types, module.types.map((x) => ({ params: [...x.params], results: [...x.results] })));
    t.deepEqual(meta.signatureOf, [...image.signatureOf]);
    t.deepEqual(meta.imports.map((i) => [i.module, i.name, i.kind]), [['env', 'f', 'func'], ['env', 'm', 'memory']]);
    t.deepEqual(meta.imports[1], { module: 'env', name: 'm', kind: 'memory', type: { min: 1, max: 4, shared: false } });
    t.deepEqual(meta.functions.map((f) => [f.funcIndex, f.textOffset, f.size, f.frameSize, f.name]), image.functions.map((f) => [f.funcIndex, f.textOffset, f.code.length, f.frameSize, f.name]));
    t.deepEqual(meta.tables, [{ elemType: 'funcref', min: 3, max: null }, { elemType: 'externref', min: 2, max: null }]);
    t.deepEqual(meta.globals, [
      { type: { valType: 'i64', mutable: true }, init: { op: 'i64.const', value: -7n } },
      { type: { valType: 'externref', mutable: true }, init: { op: 'ref.null', type: 'externref' } },
    ]);
    t.deepEqual(meta.exports, [{ name: 'sq', kind: 'func', index: 1 }]);
    t.deepEqual(meta.elements, [{ mode: { kind: 'active', table: 0, offsetExpr: { op: 'i32.const', value: 1 } }, elemType: 'funcref', items: [{ op: 'ref.func', func: 1 }] }]);
    t.deepEqual(meta.datas.map((d) => [d.mode, [...d.bytes]]), [[{ kind: 'active', memory: 0, offsetExpr: { op: 'i32.const', value: 8 } }, [0x68, 0x69]]]);
    t.deepEqual(meta.escapedFunctions, [...module.escapedFunctions]);

    const maps = readStackMaps(bytesOf(SECTION_STACKMAPS));
    t.deepEqual(maps.map((m) => [m.funcIndex, m.textReturnOffset, m.mappedWords, m.bitmap]), image.stackMaps.map((m) => [m.funcIndex, m.textReturnOffset, m.mappedWords, [...m.bitmap]]));
    t.deepEqual([...new Set(maps.map((m) => m.kind))].sort(), ['call', 'call-import', 'call-indirect', 'libcall']);
    // Each map is keyed by the return address: the call instruction ends there.
    const dis = createDisassembler(arch);
    for (const m of maps) {
      const fn = image.functions.find((f) => f.funcIndex === m.funcIndex)!;
      const [call] = dis.disasm(fn.code.subarray(m.callOffset), BigInt(m.callOffset), { count: 1 });
      t.true(/^(call|bl|blr)$/.test(call.mnemonic), call.text);
      t.is(m.callOffset + call.size, m.returnOffset);
    }
    const traps = readTrapTable(bytesOf(SECTION_TRAPS));
    t.deepEqual(traps, image.traps.map((x) => ({ textOffset: x.textOffset, code: x.code })));
    // A trap site is a trap instruction, or a linear-memory access whose fault is the bounds check.
    for (const trap of traps) {
      const [insn] = dis.disasm(image.text.subarray(trap.textOffset), BigInt(trap.textOffset), { count: 1 });
      if (insn.text === (arch === 'x64' ? 'ud2' : 'udf #0xc11f')) continue;
      t.is(trap.code, 'HeapOutOfBounds', insn.text);
      t.regex(insn.text, arch === 'x64' ? /^mov(zx|sx|sxd)? .*\[r10 \+ rax/ : /^(ldr|str)[bhsw]* [wx]\d+, \[x(10|9)/, insn.text);
    }
    t.deepEqual(meta.memoryTunables, { reservation: 1n << 32n, guard: 2n << 30n });
    t.true(traps.some((x) => x.code === 'StackOverflow') && traps.some((x) => x.code === 'HeapOutOfBounds') && traps.some((x) => x.code === 'BadSignature'));

    // Every truncation of every section is refused with a typed error.
    for (const [name, read] of [[SECTION_MODULE, readModuleMetadata], [SECTION_STACKMAPS, readStackMaps], [SECTION_TRAPS, readTrapTable]] as const) {
      const bytes = bytesOf(name);
      for (let n = 0; n < bytes.length; n++) {
        const e = t.throws(() => (read as (b: Uint8Array) => unknown)(bytes.subarray(0, n)));
        if (!(e instanceof ImageFormatError)) t.fail(`${name} cut at ${n}: ${String(e)}`);
      }
    }
  });
}
