import fc from 'fast-check';
import { writeFileSync } from 'node:fs';
import { Machine } from '../simulator/machine.ts';
import { PROT_EXEC, PROT_READ, PROT_WRITE } from '../simulator/engine.ts';
const arch = process.argv[2] as 'x64' | 'aarch64';
const m = await Machine.create({ arch, budget: 20_000n, timeoutMs: 2_000 });
const text = m.map('fuzz-text', 0x1000, PROT_READ | PROT_EXEC);
const data = m.map('fuzz-data', 0x4000, PROT_READ | PROT_WRITE);
const pointers = fc.oneof(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.bigInt({ min: data.address, max: data.address + 0x4000n - 16n }), fc.bigInt({ min: text.address, max: text.address + 0x1000n - 16n }));
const samples = fc.sample(fc.tuple(fc.uint8Array({ minLength: 4, maxLength: 96 }), fc.array(pointers, { minLength: 6, maxLength: 6 })), { numRuns: 400, seed: arch === 'x64' ? 11 : 12 });
let i = 0;
for (const [code, args] of samples) {
  writeFileSync('/tmp/exp/last-code.json', JSON.stringify({ i, code: Buffer.from(code).toString('hex'), args: args.map(String) }));
  m.writeBytes(text.address, new Uint8Array(0x1000));
  m.writeBytes(text.address, code);
  try { m.call(text.address, args); } catch (e) { if (!(e as Error).name.includes('GuestTrap')) console.log(i, (e as Error).message); }
  i++;
}
console.log('done', i);
