/**
 * Bad or unusual input never crashes the compiler: byte mutations of a module that uses every
 * supported instruction either fail in the front end or compile (both arches), and any error
 * the compiler throws is a CompileError naming the function.
 */
import test from 'ava';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CompileError, loadWat, parseWasm, watToBinary } from './frontend/index.ts';
import { compileModule } from './index.ts';

const source = readFileSync(fileURLToPath(new URL('./frontend/testdata/all-instructions.wat', import.meta.url)), 'utf8');

test('mutated binaries either fail to parse or compile on both arches; errors are CompileErrors', async (t) => {
  await loadWat();
  const { bytes } = watToBinary(source, 'all-instructions.wat');
  let compiled = 0;
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(bytes.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (edits) => {
      const mutated = Uint8Array.from(bytes);
      for (const [at, value] of edits) mutated[at] = value;
      let module;
      try {
        module = parseWasm(mutated);
      } catch (e) {
        if (e instanceof CompileError) return;
        throw e;
      }
      for (const arch of ['x64', 'aarch64'] as const) {
        try {
          compileModule(module, { arch });
          compiled++;
        } catch (e) {
          if (!(e instanceof CompileError) || e.funcIndex === null) throw e;
        }
      }
    }),
    { numRuns: 400, seed: 7 },
  );
  t.true(compiled > 20, `only ${compiled} mutants compiled`);
});

