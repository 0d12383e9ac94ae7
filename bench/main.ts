/**
 * `npm run bench -- NAME... [--arch x64|aarch64] [--repeats N]`: runs the named benchmarks
 * (all when none is named) and prints JSON lines. Results are recorded in docs/benchmarks.md.
 */
import { parseArch, ARCHES, type Arch } from '../isa/arch.ts';
import { benchEngine } from './engine.ts';
import { benchLoader } from './loader.ts';
import { benchGc } from './gc.ts';
import { benchGcV31 } from './gc-v31.ts';
import { benchGcV44 } from './gc-v44.ts';
import { benchCompiler } from './compiler.ts';
import { benchTiming, benchTimingHost } from './timing.ts';
import { benchCli } from './cli.ts';
import { benchFuzz } from './fuzz.ts';
import { benchSandbox } from './sandbox.ts';
import { benchViewer } from './viewer.ts';
import { benchRoundTrip } from './roundtrip.ts';
import type { BenchOptions } from './report.ts';

const BENCHES: Record<string, (o: BenchOptions) => Promise<void>> = {
  engine: benchEngine,
  loader: benchLoader,
  gc: benchGc,
  'gc-v31': benchGcV31,
  'gc-v44': benchGcV44,
  compiler: benchCompiler,
  timing: benchTiming,
  cli: benchCli,
  sandbox: benchSandbox,
  'timing-host': benchTimingHost,
  fuzz: benchFuzz,
  viewer: benchViewer,
  roundtrip: benchRoundTrip,
};

function usage(message: string): never {
  process.stderr.write(`bench: ${message}\nusage: npm run bench -- [${Object.keys(BENCHES).join('|')}]... [--arch x64|aarch64] [--repeats N]\n`);
  process.exit(2);
}

const names: string[] = [];
let arches: Arch[] = [...ARCHES];
let repeats = 3;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--arch') {
    const arch = parseArch(argv[++i] ?? '');
    if (!arch) usage(`unknown architecture ${argv[i]}`);
    arches = [arch];
  } else if (a === '--repeats') {
    repeats = Number(argv[++i]);
    if (!Number.isInteger(repeats) || repeats < 1 || repeats > 100) usage('--repeats takes a whole number from 1 to 100');
  } else if (a in BENCHES) {
    names.push(a);
  } else {
    usage(`unknown benchmark or option ${a}`);
  }
}
for (const name of names.length ? names : Object.keys(BENCHES)) {
  await BENCHES[name]({ arches, repeats });
}
