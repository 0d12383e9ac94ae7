import test from 'ava';
import { usesStackSwitchingSyntax } from '../compiler/frontend/wat-binaryen.ts';
import { PROFILES } from '../profiles/profile.ts';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createDisassembler } from '../isa/disasm.ts';
import { x64ScanBlock } from '../isa/x64/length.ts';
import { compileModule } from '../compiler/index.ts';
import { parseWat } from '../compiler/frontend/index.ts';
import { assembleArrayToWasm, assembleNativeToWasm, assembleWasmToArray, assembleWasmToNative } from './trampolines.ts';

// The native instruction counter counts x86-64 blocks with isa/x64/length.ts and asks Capstone
// only for forms it does not know: what stackscope itself generates should nearly all decode
// there, with Capstone's counts.
const capstone = createDisassembler('x64');

const root = join(fileURLToPath(import.meta.url), '..', '..');

test('compiled example modules and the trampolines decode without Capstone, with its counts', async (t) => {
  const texts: Array<[string, Uint8Array]> = [];
  for (const dir of readdirSync(join(root, 'examples'), { withFileTypes: true })) {
    if (!dir.isDirectory()) continue;
    for (const f of readdirSync(join(root, 'examples', dir.name))) {
      if (!f.endsWith('.wat')) continue;
      const path = join(root, 'examples', dir.name, f);
      const wat = readFileSync(path, 'utf8');
      // The stack-switching examples are v44 programs (v17 code generation does not have them).
      const profile = usesStackSwitchingSyntax(wat) ? { profile: PROFILES.v44 } : {};
      const image = compileModule(await parseWat(wat, { fileName: f }), { arch: 'x64', file: f, ...profile });
      for (const fn of image.functions) texts.push([`${f}#${fn.funcIndex}`, fn.code]);
    }
  }
  const type = { params: ['i32', 'externref', 'i64'], results: ['externref'] } as never;
  texts.push(['array-to-wasm', assembleArrayToWasm('x64', type, 0x400000n).code]);
  texts.push(['native-to-wasm', assembleNativeToWasm('x64', type, 0x400000n).code]);
  texts.push(['wasm-to-native', assembleWasmToNative('x64', type).code]);
  texts.push(['wasm-to-array', assembleWasmToArray('x64', type, 0x400000n).code]);
  t.true(texts.length > 10);
  let decoded = 0;
  for (const [name, code] of texts) {
    const quick = x64ScanBlock(code);
    if (!quick) continue;
    decoded++;
    const scan = capstone.scan(code, 0x1000n);
    t.is(quick.count, scan.count + (scan.invalidAt === undefined ? 0 : 1), name);
  }
  // Atomic read-modify-writes (lock prefix) are left to Capstone; nearly all else decodes.
  t.true(decoded >= texts.length / 2, `${decoded} of ${texts.length} decoded`);
});

