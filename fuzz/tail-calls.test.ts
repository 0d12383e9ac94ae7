/**
 * Tail calls in generated programs (issue 16's breadth): `return_call` and
 * `return_call_indirect` of the helpers replace the caller's frame. The model returns the
 * callee's result from the caller, campaigns pass on both arches in every profile, and the
 * option is checked. The programs without the option are unchanged.
 */
import test from 'ava';
import { generateProgram, opCounts, printWat, runCampaign, runModel, type Program } from './index.ts';
import { encodeProgram } from './encode.ts';
import { prepareProgram } from './harness.ts';
import { runPrepared } from './campaign.ts';
import { parseWasm } from '../compiler/frontend/index.ts';
import { compileModule } from '../compiler/index.ts';
import { cli } from '../cli/testing.ts';

/** main makes an object, tail-calls f1 with it (which prints and returns it) while depth > 0, else prints null. */
const TAIL: Program = {
  tableMin: 1, tableMax: 1, globals: 0, pool: 0, depth: 1, onFree: [], onFreeLocals: 1,
  funcs: [
    {
      params: 0, locals: 1, result: 0,
      body: [
        { k: 'set', i: 0, e: { k: 'new', tag: 1 } },
        { k: 'tail', f: 1, args: [{ k: 'local', i: 0 }], indirect: true },
        { k: 'print', e: { k: 'null' } },
      ],
    },
    { params: 1, locals: 0, result: 0, body: [{ k: 'gc' }, { k: 'print', e: { k: 'local', i: 0 } }] },
  ],
};

test.serial('a tail call returns the callee\'s result from the caller; with depth 0 the caller goes on', async (t) => {
  t.deepEqual(runModel(TAIL).trace, ['new 1', 'gc', 'print #0:t1', 'result #0:t1']);
  t.deepEqual(runModel({ ...TAIL, depth: 0 }).trace, ['new 1', 'print null', 'result #0:t1']);
  for (const p of [TAIL, { ...TAIL, depth: 0 }]) {
    const prep = await prepareProgram(structuredClone(p));
    for (const arch of ['x64', 'aarch64'] as const) {
      const out = await runPrepared(prep, arch, 'v17');
      t.is(out.failure, null, JSON.stringify(out.failure));
      t.deepEqual(out.trace, runModel(p).trace);
    }
  }
});

test.serial('generator: tail calls only with the option; the programs compile', (t) => {
  t.false(printWat(generateProgram(5)).includes('return_call'));
  const ops = new Map<string, number>();
  for (let seed = 1; seed <= 20; seed++) {
    const p = generateProgram(seed, { tailCalls: true, ops: 40 });
    opCounts(p, ops);
    t.notThrows(() => compileModule(parseWasm(encodeProgram(p)), { arch: 'x64' }), `seed ${seed}`);
  }
  t.true((ops.get('return_call') ?? 0) > 0 && (ops.get('return_call_indirect') ?? 0) > 0);
});

test.serial('campaign: programs with tail calls pass on both arches (v17, and v44 with stack switching)', async (t) => {
  const r = await runCampaign({ programs: 16, seed: 1, tailCalls: true, shrink: false });
  t.is(r.failures, 0, JSON.stringify(r.failureRecords[0]?.failure));
  t.true((r.ops.return_call ?? 0) > 5, JSON.stringify(r.ops));
  const v44 = await runCampaign({ programs: 8, seed: 1, tailCalls: true, walkers: ['v44'], shrink: false });
  t.is(v44.failures, 0, JSON.stringify(v44.failureRecords[0]?.failure));
  const ok = await cli('fuzz', '--programs', '2', '--tail-calls', '--json');
  t.is(ok.code, 0, ok.stderr);
  t.regex(ok.stdout, /"type":"summary".*"failures":0/);
});
