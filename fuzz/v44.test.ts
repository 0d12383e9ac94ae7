/**
 * The v44 fuzzer's CI subset: stack-switching programs are deterministic and valid, the model
 * says what several live stacks keep, campaigns under the `v44` walker (programs compiled for
 * wasmtime v44 in a V44Store) pass on both arches, v44's own lost counts are told apart, each
 * v44 mutant is killed on both arches, a continuation dropped unfinished keeps its refs until
 * the store drops and no longer, and the CLI's `--profile v44` runs them. Serial: a mutant is
 * process-wide state.
 */
import test from 'ava';
import { MUTANTS, activeMutant, generateProgram, opCounts, printWat, runCampaign, runModel, withMutant, type Program } from './index.ts';
import { encodeProgram } from './encode.ts';
import { prepareProgram, type FuzzRef } from './harness.ts';
import { runPrepared } from './campaign.ts';
import { v44Kit } from './harness-v44.ts';
import { HOST_IMPORTS } from './program.ts';
import { parseWasm, parseWat } from '../compiler/frontend/index.ts';
import { compileModule } from '../compiler/index.ts';
import { PROFILES } from '../profiles/profile.ts';
import { Engine } from '../runtime/engine.ts';
import { Module } from '../runtime/module.ts';
import { cli, scratchDir } from '../cli/testing.ts';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseRecord, runArgs } from './campaign.ts';

/**
 * Main starts task0 twice. Each run makes an object only its frame holds and suspends with it;
 * main collects while both are suspended, resumes the first (which prints its object), and
 * leaves the second suspended for good.
 */
const TWO_STACKS: Program = {
  tableMin: 1, tableMax: 1, globals: 0, pool: 1, depth: 0, onFree: [], onFreeLocals: 1, taskDepth: 0,
  funcs: [{
    params: 1, locals: 1, conts: 2, result: 0,
    body: [
      { k: 'cont.new', c: 0, task: 0 },
      { k: 'cont.new', c: 1, task: 0 },
      { k: 'resume', c: 0, arg: { k: 'local', i: 0 }, dst: 1 },
      { k: 'resume', c: 1, arg: { k: 'null' }, dst: 1 },
      { k: 'gc' },
      { k: 'resume', c: 0, arg: { k: 'local', i: 1 }, dst: 1 },
      { k: 'print', e: { k: 'local', i: 1 } },
    ],
  }],
  tasks: [{
    params: 1, locals: 1, result: 1,
    body: [
      { k: 'set', i: 1, e: { k: 'new', tag: 5 } },
      { k: 'suspend', e: { k: 'local', i: 1 }, dst: 0 },
      { k: 'print', e: { k: 'local', i: 1 } },
      { k: 'print', e: { k: 'local', i: 0 } },
    ],
  }],
};

test.serial('model: suspended frames keep what they use after their resume; continuations left suspended are the end\'s stack roots', (t) => {
  const m = runModel(TWO_STACKS);
  t.deepEqual(m.trace, ['new 5', 'new 5', 'gc', 'print #1:t5', 'print #2:t5', 'print #1:t5', 'result pool0']);
  // At the collection (event 2) #1 lives only in the first continuation's frame, which prints it at event 3.
  t.true(m.objects[1].created < 2 && m.objects[1].lastUse > 2);
  // #2 was the second run's payload and is the first one's resume argument (copies, not uses),
  // printed at event 4; afterwards only the abandoned second continuation's frame holds it.
  t.is(m.objects[2].lastUse, 5);
  t.deepEqual([...(m.onStacksAtEnd ?? [])], [2]);
  t.is(runModel({ ...TWO_STACKS, tasks: undefined, funcs: [{ ...TWO_STACKS.funcs[0], conts: 0, body: [] }] }).onStacksAtEnd, undefined);
});

test.serial('the two-stack program passes on both arches, and a walk that skips suspended continuations frees #1 before its stack prints it', async (t) => {
  const prep = await prepareProgram(structuredClone(TWO_STACKS));
  for (const arch of ['x64', 'aarch64'] as const) {
    const ok = await runPrepared(prep, arch, 'v44');
    t.is(ok.failure, null, JSON.stringify(ok.failure));
    t.deepEqual(ok.trace, runModel(TWO_STACKS).trace);
    const bad = await withMutant('v44-suspended-stack-skipped', () => runPrepared(prep, arch, 'v44', false));
    // The collection at event 2 freed #1; main's resume hands it to print (event 3) as a dead ref.
    t.like(bad.failure, { kind: 'error', event: 3 });
    t.regex(bad.failure?.message ?? '', /VMGcRef 0x[0-9a-f]+: does not start a live object/);
  }
});

test.serial('generator: stack-switching programs are deterministic, encode to valid v44 modules and use every construct', (t) => {
  t.is(printWat(generateProgram(7, { stackSwitching: true })), printWat(generateProgram(7, { stackSwitching: true })));
  // Without the option the programs are the ones earlier versions generated (the v17 and v31 seeds keep their meaning).
  t.false(printWat(generateProgram(7)).includes('cont'));
  const ops = new Map<string, number>();
  for (let seed = 1; seed <= 30; seed++) {
    const p = generateProgram(seed, { stackSwitching: true, ops: 40 });
    opCounts(p, ops);
    t.notThrows(() => compileModule(parseWasm(encodeProgram(p)), { arch: 'x64', profile: PROFILES.v44 }), `seed ${seed}`);
  }
  for (const k of ['cont.new', 'resume', 'suspend', 'cont.drop', 'gc', 'call', 'cont.bind', 'switch']) t.true((ops.get(k) ?? 0) > 0, k);
});

test.serial('the WAT of stack-switching programs (a failure file\'s text) compiles for v44 on both arches: Binaryen\'s ref.null noextern is extern\'s null', async (t) => {
  // One program (Binaryen's first load costs this process ≈ 25 s of CPU), with players.
  for (const seed of [1]) {
    const p = generateProgram(seed, { stackSwitching: true, ops: 40 });
    t.truthy(p.players);
    const parsed = await parseWat(printWat(p));
    t.true(parsed.functions.some((f) => f.body.some((i) => i.op === 'ref.null' && i.type === 'nullexternref')), `seed ${seed}: Binaryen wrote ref.null noextern`);
    for (const arch of ['x64', 'aarch64'] as const) t.notThrows(() => compileModule(parsed, { arch, profile: PROFILES.v44 }), `seed ${seed} ${arch}`);
  }
});

/**
 * Two players started by cont.bind (their depth bound) switch to each other symmetrically. Each
 * makes an object only its frame holds; collections run in each player while the other is
 * suspended by its switch; the first returns to main's resume, the second stays suspended (an
 * unfinished continuation, dropped). B is started by A's switch, never resumed by main.
 */
const PING_PONG: Program = {
  tableMin: 1, tableMax: 1, globals: 0, pool: 0, depth: 0, onFree: [], onFreeLocals: 1, taskDepth: 0, tasks: [],
  funcs: [{
    params: 0, locals: 1, conts: 0, qs: 2, result: 0,
    body: [
      { k: 'cont.bind', q: 0, player: 0, depth: 0 },
      { k: 'cont.bind', q: 1, player: 0, depth: 0 },
      { k: 'play', q: 0, other: 1, arg: { k: 'null' }, dst: 0 },
      { k: 'gc' },
      { k: 'print', e: { k: 'local', i: 0 } },
    ],
  }],
  players: [{
    params: 1, locals: 1, result: 1,
    body: [
      { k: 'set', i: 1, e: { k: 'new', tag: 5 } },
      { k: 'switch', arg: { k: 'local', i: 1 }, dst: 0 },
      { k: 'gc' },
      { k: 'switch', arg: { k: 'local', i: 1 }, dst: 0 },
      { k: 'print', e: { k: 'local', i: 1 } },
      { k: 'print', e: { k: 'local', i: 0 } },
    ],
  }],
};

test.serial('players: cont.bind and symmetric switch keep each suspended player\'s frame as roots; the switch mutants are caught on both arches', async (t) => {
  const m = runModel(PING_PONG);
  // A: new #0, switch to B (fresh: gets #0); B: new #1, switch to A (gets #1); A collects while B
  // is suspended, switches to B (gets #0); B collects while A is suspended, switches to A; A
  // prints its #0 and the #1 it received and returns #0 to main; B stays suspended.
  t.deepEqual(m.trace, ['new 5', 'new 5', 'gc', 'gc', 'print #0:t5', 'print #1:t5', 'gc', 'print #0:t5', 'result #0:t5']);
  t.deepEqual([...(m.onStacksAtEnd ?? [])].sort(), [0, 1], 'B, suspended for good, holds both');
  t.regex(printWat(PING_PONG), /\(cont\.bind \$pk0 \$pk .*\(resume \$pk \(on \$sw switch\).*\(switch \$pk \$sw /s);
  const prep = await prepareProgram(structuredClone(PING_PONG));
  for (const arch of ['x64', 'aarch64'] as const) {
    const ok = await runPrepared(prep, arch, 'v44');
    t.is(ok.failure, null, JSON.stringify(ok.failure));
    t.deepEqual(ok.trace, m.trace);
    // Without the switch recording the switched-from stack's entry FP, B (started by A's switch,
    // switched from, then back into) runs with no entry FP: its collection (event 3) cannot
    // tell where its frames end.
    const fp = await withMutant('v44-switch-entry-fp-kept', () => runPrepared(prep, arch, 'v44'));
    t.like(fp.failure, { kind: 'error', event: 3 });
    t.regex(fp.failure?.message ?? '', /V44StackWalkError: .*zero-entry-fp/);
    const chain = await withMutant('v44-switch-chain-kept', () => runPrepared(prep, arch, 'v44'));
    t.not(chain.failure, null);
  }
  t.is(activeMutant(), null);
});

test.serial('a v44 failure file runs with plain `stackscope run --profile v44` (its run line: Binaryen\'s noextern compiles, host.* are provided)', async (t) => {
  const out = scratchDir('fuzz44-');
  const failing = await cli('fuzz', '--profile', 'v44', '--programs', '5', '--arch', 'x64', '--mutant', 'v44-switch-chain-kept', '--out', out);
  t.is(failing.code, 1, failing.stderr);
  const file = join(out, readdirSync(out)[0]);
  const run = runArgs(parseRecord(readFileSync(file, 'utf8')), file);
  t.true(run.includes('--profile') && run.includes('v44'));
  const ran = await cli(...run);
  t.not(ran.code, 2, ran.stderr);
  // The shrunk program may make no host call at all; it returns or traps as the model says.
  t.regex(ran.stdout, /^(result: |results: )|trap/m);
  t.is((await cli('fuzz', '--replay', file)).code, 1, 'the record still fails under its mutant');
});

test.serial('campaign: stack-switching programs pass in the v44 profile on x64 and aarch64 (V44Store, the intrusive list, user stack maps)', async (t) => {
  const r = await runCampaign({ programs: 16, seed: 1, walkers: ['v44'], shrink: false });
  t.is(r.failures, 0, JSON.stringify(r.failureRecords[0]?.failure));
  t.is(r.runs, 32);
  t.true(r.gcs > 100 && r.framesWalked > 500 && r.freed > 100, JSON.stringify(r));
  t.true((r.ops.resume ?? 0) > 20 && (r.ops.suspend ?? 0) > 10, JSON.stringify(r.ops));
  // `pass` hands Wasm a clone of a ref that is already in the list: v44.0.0 keeps that count.
  t.true((r.eraLeaks ?? 0) > 0, 'the v44 lost counts are seen and told apart');
  const plain = await runCampaign({ programs: 6, seed: 1, walkers: ['v44'], stackSwitching: false, shrink: false });
  t.is(plain.failures, 0, JSON.stringify(plain.failureRecords[0]?.failure));
  t.false('resume' in plain.ops);
  await t.throwsAsync(runCampaign({ programs: 1, walkers: ['v44', 'v17'] }), { message: /only under the v44 walker/ });
});

/**
 * Seed 10244's failure, shrunk: the task's object dies in its suspended frame (a dead slot) and
 * the final collection frees it; the re-entrant object freed in the same sweep runs on_free,
 * whose temporary takes the freed object's heap index. The oracle must not excuse that index as
 * the abandoned frame's.
 */
const REUSED_INDEX: Program = {
  tableMin: 2, tableMax: 2, globals: 0, pool: 0, depth: 0, taskDepth: 0, onFreeLocals: 2,
  onFree: [{ k: 'set', i: 1, e: { k: 'new_temp' } }],
  funcs: [{
    params: 0, locals: 1, conts: 1, result: 0,
    body: [{ k: 'cont.new', c: 0, task: 0 }, { k: 'resume', c: 0, arg: { k: 'null' }, dst: 0 }, { k: 'print', e: { k: 'new', tag: 3 } }],
  }],
  tasks: [{
    params: 1, locals: 3, result: 0,
    body: [{ k: 'set', i: 2, e: { k: 'new', tag: 1 } }, { k: 'suspend', e: { k: 'null' }, dst: 0 }],
  }],
};

test.serial('a heap index freed in a suspended frame and reused by a temporary is no stack root of the oracle', async (t) => {
  t.deepEqual([...(runModel(REUSED_INDEX).onStacksAtEnd ?? [])], [0]);
  const prep = await prepareProgram(structuredClone(REUSED_INDEX));
  for (const arch of ['x64', 'aarch64'] as const) t.is((await runPrepared(prep, arch, 'v44')).failure, null);
});

const V44_MUTANTS = MUTANTS.filter((m) => 'profile' in m && m.profile === 'v44').map((m) => m.name);

test.serial('the v44 mutants (walk of suspended stacks, their older frames and parent stacks, the list\'s bit and head, the read barrier) are killed on both arches within 60 programs', async (t) => {
  t.true(V44_MUTANTS.length >= 6);
  for (const mutant of V44_MUTANTS) {
    for (const arch of ['x64', 'aarch64'] as const) {
      const r = await runCampaign({ programs: 60, arches: [arch], walkers: ['v44'], mutant, shrink: false });
      t.not(r.firstFailureAt, null, `${mutant} survived 60 programs on ${arch}`);
    }
  }
  t.is(activeMutant(), null);
});

test.serial('a continuation dropped unfinished keeps its frame\'s refs (the list\'s count) until the store drops, which destroys each once', async (t) => {
  for (const arch of ['x64', 'aarch64'] as const) {
    const engine = new Engine({ arch, profile: 'v44' });
    const module = Module.fromParsed(engine, parseWasm(encodeProgram(TWO_STACKS)));
    const kit = await v44Kit(engine, () => {});
    const destroyed = new Map<string, number>();
    const keys = new Map<string, bigint>();
    let made = 0;
    const host = new Map<string, (caller: unknown, ...args: unknown[]) => unknown>(HOST_IMPORTS.map((h) => [h.name, () => null]));
    host.set('gc', () => kit.gc());
    host.set('new', () => {
      const label = `#${++made}`;
      const { ref, key } = kit.newRef(label, () => destroyed.set(label, (destroyed.get(label) ?? 0) + 1));
      keys.set(label, key);
      return ref;
    });
    const { ref: pool } = kit.newRef('pool0', () => destroyed.set('pool0', 1));
    const { main } = kit.instantiate(module, host);
    (main(pool, 0) as FuzzRef).release();
    pool.release();
    kit.gc();
    t.deepEqual([...destroyed.keys()].sort(), ['#1', 'pool0'], `${arch}: #2 is in the abandoned continuation's frame`);
    t.is(kit.strongCount(keys.get('#2')!), 1, 'the list\'s count only');
    t.is(kit.tableEntries(new Set([keys.get('#2')!])), 0);
    kit.close();
    t.deepEqual(Object.fromEntries(destroyed), { '#1': 1, '#2': 1, pool0: 1 });
  }
});

test.serial('cli: fuzz --profile v44 runs the v44 walk; other walkers and v17 mutants are usage errors', async (t) => {
  const fuzz = await cli('fuzz', '--programs', '2', '--profile', 'v44', '--json');
  t.is(fuzz.code, 0, fuzz.stderr);
  t.regex(fuzz.stdout, /"type":"summary".*"failures":0.*"resume"/);
  const canary = await cli('fuzz', '--programs', '1', '--profile', 'v44', '--walker', 'canary');
  t.is(canary.code, 2);
  t.regex(canary.stderr, /--profile v44 runs the v44 walk/);
  const mutant = await cli('fuzz', '--programs', '1', '--profile', 'v44', '--mutant', 'table-set-no-incref');
  t.is(mutant.code, 2);
  const v44Only = await cli('fuzz', '--programs', '1', '--mutant', 'v44-list-head-kept');
  t.is(v44Only.code, 2);
  t.regex(v44Only.stderr, /--profile v44/);
});
