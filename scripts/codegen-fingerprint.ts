/**
 * `node --import tsx scripts/codegen-fingerprint.ts [--out FILE | --check FILE]`: the
 * fingerprint of every piece of machine code stackscope generates, to prove that a refactoring
 * leaves the generated code byte-identical. One line per item, `name sha256`:
 *
 * - every `.wat` under `examples/` and under any `testdata/` folder, compiled for x64 and
 *   aarch64: the whole ELF object (text, relocations, stack maps, trap table, module shape);
 *   a file the compiler rejects is recorded with its error's name and message instead;
 * - the runtime's trampolines (array-to-wasm, native-to-wasm, wasm-to-native, wasm-to-array)
 *   for a set of signatures, and a builtin stub, with fixed target addresses;
 * - the Machine's host gateway region, as a fresh Machine maps it.
 *
 * Record before a change with `--out before.txt`, check after it with `--check before.txt`
 * (exit 1 and the differing lines when anything changed). Without either it prints the lines.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ARCHES } from '../isa/arch.ts';
import { compileModule } from '../compiler/index.ts';
import { parseWat } from '../compiler/frontend/index.ts';
import type { FuncType } from '../compiler/frontend/module.ts';
import { Machine } from '../simulator/machine.ts';
import {
  assembleArrayToWasm, assembleBuiltinStub, assembleNativeToWasm, assembleWasmToArray, assembleWasmToNative,
} from '../runtime/trampolines.ts';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const SKIP = new Set(['node_modules', 'dist', 'build', '.git']);

function sha256(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** `.wat` files under examples/ and every testdata/ folder, sorted. */
function watFiles(dir: string, inScope: boolean, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) watFiles(path, inScope || entry.name === 'testdata' || relative(root, path) === 'examples', out);
    else if (inScope && entry.name.endsWith('.wat')) out.push(path);
  }
  return out.sort();
}

const SIGNATURES: FuncType[] = [
  { params: [], results: [] },
  { params: ['i32'], results: ['i32'] },
  { params: ['i64', 'i32'], results: ['i64'] },
  { params: ['externref', 'funcref'], results: ['externref'] },
  { params: ['i32', 'i64', 'i32', 'i64', 'i32', 'i64', 'i32', 'i64', 'i32', 'i64'], results: ['i64'] },
];
const TARGET = 0x7f12_3456_7000n;

async function fingerprint(): Promise<string[]> {
  const lines: string[] = [];
  for (const file of watFiles(root, false)) {
    const name = relative(root, file);
    const text = readFileSync(file, 'utf8');
    for (const arch of ARCHES) {
      try {
        const image = compileModule(await parseWat(text, { fileName: name }), { arch });
        lines.push(`${name} ${arch} ${sha256(image.elf)}`);
      } catch (e) {
        lines.push(`${name} ${arch} rejected ${sha256(`${(e as Error).name}: ${(e as Error).message}`)}`);
      }
    }
  }
  for (const arch of ARCHES) {
    SIGNATURES.forEach((type, i) => {
      lines.push(`trampoline array-to-wasm #${i} ${arch} ${sha256(assembleArrayToWasm(arch, type, TARGET).code)}`);
      lines.push(`trampoline native-to-wasm #${i} ${arch} ${sha256(assembleNativeToWasm(arch, type, TARGET).code)}`);
      lines.push(`trampoline wasm-to-native #${i} ${arch} ${sha256(assembleWasmToNative(arch, type).code)}`);
      lines.push(`trampoline wasm-to-array #${i} ${arch} ${sha256(assembleWasmToArray(arch, type, TARGET).code)}`);
    });
    lines.push(`trampoline builtin-stub ${arch} ${sha256(assembleBuiltinStub(arch, TARGET).code)}`);
    const machine = await Machine.create({ arch });
    try {
      const gateway = machine.regionByName('gateway');
      lines.push(`gateway ${arch} ${gateway ? sha256(machine.readBytes(gateway.address, gateway.size)) : 'none'}`);
    } finally {
      machine.close();
    }
  }
  return lines;
}

const argv = process.argv.slice(2);
const lines = await fingerprint();
if (argv[0] === '--out' && argv[1]) {
  writeFileSync(argv[1], lines.join('\n') + '\n');
  process.stdout.write(`${lines.length} fingerprints written to ${argv[1]}\n`);
} else if (argv[0] === '--check' && argv[1]) {
  const before = new Set(readFileSync(argv[1], 'utf8').split('\n').filter(Boolean));
  const now = new Set(lines);
  const gone = [...before].filter((l) => !now.has(l));
  const added = lines.filter((l) => !before.has(l));
  for (const l of gone) process.stdout.write(`- ${l}\n`);
  for (const l of added) process.stdout.write(`+ ${l}\n`);
  process.stdout.write(gone.length || added.length ? 'generated code differs\n' : `${lines.length} fingerprints identical\n`);
  process.exitCode = gone.length || added.length ? 1 : 0;
} else {
  process.stdout.write(lines.join('\n') + '\n');
}
