import test from 'ava';
import { MemoryHierarchy } from './cache.ts';
import { DYNAMIC_PARAMS } from './params.ts';
import { BranchPredictor } from './predictor.ts';

const params = DYNAMIC_PARAMS.znver3;

test('predictor: a biased branch is learned at once, an alternating one through history', (t) => {
  const p = new BranchPredictor(params);
  let misses = 0;
  for (let i = 0; i < 1000; i++) if (p.conditional(0x1000, true)) misses++;
  t.true(misses <= 2, `always taken: ${misses}`);
  misses = 0;
  for (let i = 0; i < 2000; i++) if (p.conditional(0x2040, i % 2 === 0) && i >= 1000) misses++;
  t.true(misses <= 5, `alternating, after warm-up: ${misses}`);
  t.is(p.stats.conditional, 3000);
});

test('predictor: returns follow calls through the return-address stack; indirect targets through the BTB', (t) => {
  const p = new BranchPredictor(params);
  for (let depth = 1; depth <= 8; depth++) p.call(0x1000 + depth * 16);
  let misses = 0;
  for (let depth = 8; depth >= 1; depth--) if (p.ret(0x1000 + depth * 16)) misses++;
  t.is(misses, 0);
  t.true(p.ret(0x5000), 'an empty stack predicts nothing');
  t.true(p.indirect(0x3000, 0x4000), 'first sight of an indirect jump misses');
  t.false(p.indirect(0x3000, 0x4000));
  t.true(p.indirect(0x3000, 0x4100), 'a new target misses');
  // Deeper than the stack: the oldest return addresses are lost, the newest still predicted.
  const q = new BranchPredictor(params);
  for (let i = 0; i < params.rasDepth + 4; i++) q.call(0x8000 + i * 4);
  t.false(q.ret(0x8000 + (params.rasDepth + 3) * 4));
});

test('caches: a working set within L1 misses once per line; LRU evicts past the associativity', (t) => {
  const m = new MemoryHierarchy(params);
  let delay = 0;
  for (let pass = 0; pass < 4; pass++) for (let a = 0; a < 16 << 10; a += 8) delay += m.access(0x100000 + a, 8, false, pass * 1e6 + a);
  t.is(m.stats.l1.misses + m.stats.prefetches >= 256, true);
  t.true(m.stats.l1.misses <= 256);
  const missesAfterFirstPass = m.stats.l1.misses;
  for (let a = 0; a < 16 << 10; a += 8) m.access(0x100000 + a, 8, false, 1e7 + a);
  t.is(m.stats.l1.misses, missesAfterFirstPass, 'resident lines hit');
  t.true(delay > 0);
  // Nine lines mapping to one 8-way set: the first is evicted.
  const set = new MemoryHierarchy(params);
  const stride = params.l1.sizeBytes / params.l1.ways; // same set index
  for (let i = 0; i < 9; i++) set.access(0x1000000 + i * stride * 7, 8, false, i * 1000);
  const before = set.stats.l1.misses;
  set.access(0x1000000, 8, false, 1e6);
  t.is(set.stats.l1.misses, before + 1);
});

test('caches: the stride prefetcher turns a streaming walk into bandwidth-bound hits; stores never delay', (t) => {
  const m = new MemoryHierarchy(params);
  // An in-order consumer: each load waits for its data, then one cycle of work.
  let now = 0;
  const lines = 4096;
  for (let i = 0; i < lines; i++) now += 1 + m.access(0x4000000 + i * 64, 8, false, now);
  t.true(m.stats.prefetches > lines * 0.9, `prefetches ${m.stats.prefetches}`);
  t.true(m.stats.l1.misses < 16, `demand misses ${m.stats.l1.misses}`);
  // An in-order consumer waits at most the DRAM latency spread over the prefetch distance, and
  // at least the channel's cycles per line: never the full latency per line.
  const perLine = now / lines;
  t.true(perLine >= params.dramCyclesPerLine * 0.9, `per line ${perLine}`);
  t.true(perLine <= (params.dramLatency / params.prefetchDistance) * 1.2, `per line ${perLine}`);
  t.is(new MemoryHierarchy(params).access(0x9000000, 8, true, 0), 0);
});
