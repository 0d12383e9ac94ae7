/**
 * The v44 fuzzer's CI subset: campaigns under the `v44` walker (programs compiled for wasmtime
 * v44 in a V44Store) pass on both arches, v44's own lost counts are told apart, and the CLI's
 * `--profile v44` runs them. Serial: a mutant is process-wide state.
 */
import test from 'ava';
import { runCampaign } from './index.ts';
import { cli } from '../cli/testing.ts';

test.serial('campaign: programs pass in the v44 profile on x64 and aarch64 (V44Store, the intrusive list, user stack maps)', async (t) => {
  const r = await runCampaign({ programs: 16, seed: 1, walkers: ['v44'], shrink: false });
  t.is(r.failures, 0, JSON.stringify(r.failureRecords[0]?.failure));
  t.is(r.runs, 32);
  t.true(r.gcs > 100 && r.framesWalked > 200 && r.freed > 100, JSON.stringify(r));
  // `pass` hands Wasm a clone of a ref that is already in the list: v44.0.0 keeps that count.
  t.true((r.eraLeaks ?? 0) > 0, 'the v44 lost counts are seen and told apart');
});

test.serial('cli: fuzz --profile v44 runs the v44 walk; other walkers are usage errors', async (t) => {
  const fuzz = await cli('fuzz', '--programs', '2', '--profile', 'v44', '--json');
  t.is(fuzz.code, 0, fuzz.stderr);
  t.regex(fuzz.stdout, /"type":"summary".*"failures":0/);
  const canary = await cli('fuzz', '--programs', '1', '--profile', 'v44', '--walker', 'canary');
  t.is(canary.code, 2);
  t.regex(canary.stderr, /--profile v44 runs the v44 walk/);
  const mutant = await cli('fuzz', '--programs', '1', '--profile', 'v44', '--mutant', 'table-set-no-incref');
  t.is(mutant.code, 2);
});
