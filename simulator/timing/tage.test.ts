import test from 'ava';
import { DYNAMIC_PARAMS } from './params.ts';
import { BranchPredictor } from './predictor.ts';
import { Tage, type TageParams } from './tage.ts';
import { xorshiftFlags } from './testing/kernels.ts';

const ZEN5 = DYNAMIC_PARAMS.znver5.tage!;

/** Random outcomes from xorshift32, as bench/timing's host kernels draw them. */
const randomBits = (n: number, seed = 12345): Uint8Array => xorshiftFlags(n, seed);

/**
 * The capacity measurement of params.ts: a load-dependent branch over a repeated random
 * sequence of `n` outcomes (and the loop branch around it), run until the predictor has had
 * its chance to learn; the misprediction rate of the last pass.
 */
function repeatedSequenceMissRate(p: TageParams, n: number, passes: number): number {
  const tage = new Tage(p);
  const f = randomBits(n);
  let misses = 0;
  for (let pass = 0; pass < passes; pass++) {
    misses = 0;
    for (let i = 0; i < n; i++) {
      const taken = f[i] === 1;
      if (tage.predict(0x401000, taken) !== taken) misses++;
      tage.predict(0x401010, i + 1 !== n);
    }
  }
  return misses / n;
}

test('TAGE (znver5): learns a repeated random sequence the host learns, not one twice past its capacity', (t) => {
  // Host (Zen 5, params.ts): 4 Ki and 16 Ki outcomes learnt (1.0 cycle per iteration), 64 Ki
  // mispredicted ≈ 38 % of the time.
  t.true(repeatedSequenceMissRate(ZEN5, 4096, 200) < 0.01);
  const big = repeatedSequenceMissRate(ZEN5, 65536, 40);
  t.true(big > 0.2 && big < 0.45, `64 Ki outcomes: ${big}`);
});

test('TAGE: a loop with a fixed trip count is learnt through history, exit included', (t) => {
  const tage = new Tage(ZEN5);
  let misses = 0;
  for (let run = 0; run < 200; run++) {
    for (let i = 0; i < 12; i++) {
      const taken = i < 11;
      if (tage.predict(0x2000, taken) !== taken && run >= 100) misses++;
    }
  }
  t.is(misses, 0);
});

test('TAGE: deterministic (two predictors fed the same outcomes agree on every prediction)', (t) => {
  const a = new Tage(ZEN5);
  const b = new Tage(ZEN5);
  const f = randomBits(20000, 99);
  for (let i = 0; i < f.length; i++) {
    const pc = 0x3000 + (i % 7) * 16;
    t.is(a.predict(pc, f[i] === 1), b.predict(pc, f[i] === 1));
  }
});

test('TAGE: a bad geometry is a RangeError', (t) => {
  t.throws(() => new Tage({ ...ZEN5, tagBits: [8] }), { instanceOf: RangeError });
  t.throws(() => new Tage({ ...ZEN5, tagBits: ZEN5.tagBits.map(() => 12) }), { instanceOf: RangeError });
});

test('BranchPredictor: znver5 predicts conditional branches with TAGE, the other tables with gshare', (t) => {
  // A random sequence of 2 Ki outcomes, repeated: TAGE's long histories learn it, a 16-bit
  // gshare cannot.
  const f = randomBits(2048, 7);
  const rate = (p: BranchPredictor) => {
    let misses = 0;
    for (let pass = 0; pass < 60; pass++) {
      misses = 0;
      for (let i = 0; i < f.length; i++) {
        if (p.conditional(0x5000, f[i] === 1)) misses++;
        p.conditional(0x5010, i + 1 !== f.length);
      }
    }
    return misses / f.length;
  };
  const zen5 = new BranchPredictor(DYNAMIC_PARAMS.znver5);
  const skylake = new BranchPredictor(DYNAMIC_PARAMS.skylake);
  t.true(rate(zen5) < 0.02);
  t.true(rate(skylake) > 0.2);
  t.is(zen5.stats.conditional, 60 * 2 * 2048);
});
