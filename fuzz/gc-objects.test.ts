/**
 * GC objects in generated programs (issue 16's breadth, profile v31): box (struct) and array
 * locals with externref fields. The programs are deterministic and valid, the model says what
 * struct.new/get/set and array.new/get/set do (and their traps), campaigns pass on both arches,
 * the two mutants whose hooks only GC objects reach are killed, and the options are checked.
 * Serial: a mutant is process-wide state.
 */
import test from 'ava';
import { activeMutant, generateProgram, opCounts, printWat, runCampaign, runModel, type Program } from './index.ts';
import { encodeProgram } from './encode.ts';
import { prepareProgram } from './harness.ts';
import { runPrepared } from './campaign.ts';
import { parseWasm } from '../compiler/frontend/index.ts';
import { compileModule } from '../compiler/index.ts';
import { PROFILES } from '../profiles/profile.ts';
import { cli } from '../cli/testing.ts';

/** main boxes a new object, collects, prints it from the box, overwrites the field, then reads an array out of bounds. */
const BOXED: Program = {
  tableMin: 1, tableMax: 1, globals: 0, pool: 0, depth: 0, onFree: [], onFreeLocals: 1, gcObjects: true,
  funcs: [{
    params: 0, locals: 1, boxes: 1, vecs: 1, result: 0,
    body: [
      { k: 'box.new', b: 0, e: { k: 'new', tag: 1 } },
      { k: 'vec.new', v: 0, e: { k: 'new', tag: 2 }, len: 2 },
      { k: 'gc' },
      { k: 'print', e: { k: 'box.get', b: 0 } },
      { k: 'box.set', b: 0, e: { k: 'null' } },
      { k: 'gc' },
      { k: 'set', i: 0, e: { k: 'vec.get', v: 0, i: 1 } },
      { k: 'print', e: { k: 'vec.get', v: 0, i: 2 } },
    ],
  }],
};

test.serial('model and runtime agree on boxes and arrays: fields keep objects across collections, reads out of bounds and of null trap', async (t) => {
  const m = runModel(BOXED);
  t.deepEqual(m.trace, ['new 1', 'new 2', 'gc', 'print #0:t1', 'gc', 'trap ArrayOutOfBounds']);
  const noBox = structuredClone(BOXED);
  noBox.funcs[0].body.shift();
  t.deepEqual(runModel(noBox).trace, ['new 2', 'gc', 'trap NullReference']);
  for (const p of [BOXED, noBox]) {
    const prep = await prepareProgram(structuredClone(p));
    for (const arch of ['x64', 'aarch64'] as const) {
      const out = await runPrepared(prep, arch, 'v31');
      t.is(out.failure, null, JSON.stringify(out.failure));
      t.deepEqual(out.trace, runModel(p).trace);
    }
  }
});

test.serial('generator: programs with GC objects are deterministic, compile for v31 and use every construct; without the option nothing changes', (t) => {
  t.is(printWat(generateProgram(9, { gcObjects: true })), printWat(generateProgram(9, { gcObjects: true })));
  t.false(printWat(generateProgram(9)).includes('struct'));
  const ops = new Map<string, number>();
  for (let seed = 1; seed <= 30; seed++) {
    const p = generateProgram(seed, { gcObjects: true, ops: 40 });
    opCounts(p, ops);
    t.notThrows(() => compileModule(parseWasm(encodeProgram(p)), { arch: 'aarch64', profile: PROFILES.v31 }), `seed ${seed}`);
  }
  for (const k of ['struct.new', 'struct.get', 'struct.set', 'array.new', 'array.get', 'array.set']) t.true((ops.get(k) ?? 0) > 0, k);
  t.throws(() => generateProgram(1, { gcObjects: true, stackSwitching: true }), { message: /not both/ });
});

test.serial('campaign: programs with GC objects pass in the v31 profile on x64 and aarch64', async (t) => {
  const r = await runCampaign({ programs: 16, seed: 1, walkers: ['v31'], gcObjects: true, shrink: false });
  t.is(r.failures, 0, JSON.stringify(r.failureRecords[0]?.failure));
  t.is(r.runs, 32);
  t.true((r.ops['struct.get'] ?? 0) > 20 && (r.ops['array.set'] ?? 0) > 5, JSON.stringify(r.ops));
  await t.throwsAsync(runCampaign({ programs: 1, walkers: ['v17'], gcObjects: true }), { message: /only under the v31 walker/ });
});

test.serial('the GC-object mutants (struct.new/array.new fields uncounted, a freed object\'s fields kept) are killed on both arches within 40 programs, by the oracle alone', async (t) => {
  for (const mutant of ['v31-init-field-no-incref', 'v31-freed-object-fields-kept']) {
    for (const arch of ['x64', 'aarch64'] as const) {
      // The mutant asks for programs with GC objects itself.
      const r = await runCampaign({ programs: 40, arches: [arch], walkers: ['v31'], mutant, shrink: false, debugChecks: false });
      t.not(r.firstFailureAt, null, `${mutant} survived 40 programs on ${arch}`);
      t.true((r.ops['struct.new'] ?? 0) > 0);
    }
  }
  t.is(activeMutant(), null);
});

test.serial('cli: fuzz --gc-objects runs with --profile v31 and is a usage error without it', async (t) => {
  const ok = await cli('fuzz', '--programs', '2', '--profile', 'v31', '--gc-objects', '--json');
  t.is(ok.code, 0, ok.stderr);
  t.regex(ok.stdout, /"type":"summary".*"failures":0.*"struct\.new"/);
  const bad = await cli('fuzz', '--programs', '1', '--gc-objects');
  t.is(bad.code, 2);
  t.regex(bad.stderr, /--gc-objects needs --profile v31/);
});
