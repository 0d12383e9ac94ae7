// Jazzer.js fuzz target for stackscope's GC fuzzer (docs/fuzzing.md, "Coverage-guided engines").
//   npx jazzer fuzz/jazzer-target.mjs fuzz/corpus -- -max_total_time=600
// Each input is decoded into a program (fuzz/libfuzzer.ts) and run on x86-64 and AArch64; a
// thrown FuzzFindingError is a finding. The sources are TypeScript, so tsx is registered first.
import { register } from 'tsx/esm/api';

register();
const { fuzz: runInput } = await import('./libfuzzer.ts');

/** @param {Buffer} data */
export async function fuzz(data) {
  await runInput(data);
}
