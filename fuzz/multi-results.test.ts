/**
 * Helpers with several results in generated programs (issue 16's breadth): the extra externref
 * results come back through Cranelift's return area, the caller sets a local per result. The
 * model returns every result, campaigns pass in every profile, both register-allocation modes
 * and both arches, and the programs without the option are unchanged.
 */
import test from 'ava';
import { generateFrom, printWat, runCampaign, runModel, SeededChoices, type Program } from './index.ts';
import { encodeProgram } from './encode.ts';
import { prepareProgram } from './harness.ts';
import { runPrepared } from './campaign.ts';
import { parseWasm } from '../compiler/frontend/index.ts';
import { compileModule } from '../compiler/index.ts';
import { cli } from '../cli/testing.ts';

/**
 * main calls f1, which makes two objects, collects, and returns them swapped with a third
 * result (its first); main gets them into r0, r1, r2, collects, and prints them.
 */
const MULTI: Program = {
  tableMin: 1, tableMax: 1, globals: 0, pool: 0, depth: 1, onFree: [], onFreeLocals: 1,
  funcs: [
    {
      params: 0, locals: 3, result: 2,
      body: [
        { k: 'call', dst: 0, f: 1, args: [], indirect: false, more: [1, 2] },
        { k: 'gc' },
        { k: 'print', e: { k: 'local', i: 0 } },
        { k: 'print', e: { k: 'local', i: 1 } },
        { k: 'call', dst: 1, f: 1, args: [], indirect: true, more: [1, 1] },
        { k: 'print', e: { k: 'local', i: 1 } },
      ],
    },
    {
      params: 0, locals: 2, result: 1, extra: [0, 0],
      body: [{ k: 'set', i: 0, e: { k: 'new', tag: 1 } }, { k: 'set', i: 1, e: { k: 'new', tag: 2 } }, { k: 'gc' }],
    },
  ],
};

test.serial('several results: the caller gets each in its local (the last set first); the return area keeps them across the return', async (t) => {
  const m = runModel(MULTI);
  // First call: r0 = #1 (f1's $r1), r1 = #0, r2 = #0. Second call: r1 is set last by the first
  // result (#3), after the extra ones. main returns r2 = #0.
  t.deepEqual(m.trace, ['new 1', 'new 2', 'gc', 'gc', 'print #1:t2', 'print #0:t1', 'new 1', 'new 2', 'gc', 'print #3:t2', 'result #0:t1']);
  t.regex(printWat(MULTI), /\(result externref externref externref\)/);
  const prep = await prepareProgram(structuredClone(MULTI));
  for (const arch of ['x64', 'aarch64'] as const) {
    for (const regalloc of ['none', 'linear-scan'] as const) {
      const out = await runPrepared(prep, arch, 'v17', true, regalloc);
      t.is(out.failure, null, `${arch} ${regalloc}: ${JSON.stringify(out.failure)}`);
      t.deepEqual(out.trace, m.trace);
    }
  }
});

test.serial('generator: several results only with the option, the rest of each program as without it; the programs compile', (t) => {
  let multi = 0;
  for (let seed = 1; seed <= 20; seed++) {
    // generateFrom: one draw of the stream (generateProgram may draw again after a program too long to model).
    const plain = generateFrom(new SeededChoices(seed), { ops: 40 });
    const p = generateFrom(new SeededChoices(seed), { ops: 40, multiResults: true });
    t.false(printWat(plain).includes('(result externref externref'));
    // The same program, but for the extra results and the locals that receive them.
    const strip = (q: Program): Program => JSON.parse(JSON.stringify(q, (k, v) => (k === 'extra' || k === 'more' ? undefined : v))) as Program;
    t.deepEqual(strip(p), plain, `seed ${seed}`);
    multi += p.funcs.filter((f) => f.extra).length;
    t.notThrows(() => compileModule(parseWasm(encodeProgram(p)), { arch: 'aarch64' }), `seed ${seed}`);
  }
  t.true(multi > 5);
});

test.serial('campaign: programs with several results pass on both arches in v17, v31 and v44 (with stack switching), in both register-allocation modes', async (t) => {
  for (const walkers of [['v17'], ['v31'], ['v44']] as const) {
    const r = await runCampaign({ programs: 10, seed: 1, multiResults: true, walkers, regallocs: ['none', 'linear-scan'], shrink: false });
    t.is(r.failures, 0, `${walkers[0]}: ${JSON.stringify(r.failureRecords[0]?.failure)}`);
    t.is(r.runs, 40);
  }
  const ok = await cli('fuzz', '--programs', '2', '--multi-results', '--json');
  t.is(ok.code, 0, ok.stderr);
  t.regex(ok.stdout, /"type":"summary".*"failures":0/);
});
