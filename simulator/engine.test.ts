import test from 'ava';
import fc from 'fast-check';
import { ARCHES, type Arch } from '../isa/arch.ts';
import { createDisassembler } from '../isa/disasm.ts';
import { registersOf } from '../isa/registers.ts';
import { EngineError, PROT_EXEC, PROT_READ, PROT_WRITE, type CpuEngine, type MemoryAccess } from './engine.ts';
import { openUnicorn, pageCollectionsReplaced, type UnicornOptions } from './unicorn.ts';
import { assemble } from './testing/asm.ts';

const CODE = 0x10000n;
const DATA = 0x20000n;

/** Stores 1, 2, 3 to [data], [data+8], [data+16], loads one back, then ends at a marker. */
const PROGRAM: Record<Arch, string> = {
  x64: 'mov rax, 1\nmov [rdi], rax\nmov rax, 2\nmov [rdi+8], rax\njmp 1f\n1: mov rax, 3\nmov [rdi+16], rax\nmov rcx, [rdi+8]\nnop\n',
  aarch64: 'mov x1, #1\nstr x1, [x0]\nmov x1, #2\nstr x1, [x0, #8]\nb 1f\n1: mov x1, #3\nstr x1, [x0, #16]\nldr x2, [x0, #8]\nnop\n',
};

/** The address of the final instruction of `code` at `base`: every program here ends in a
 * one-instruction `nop` (or the like), the address the run stops at. */
function finalInstruction(arch: Arch, base: bigint, code: Uint8Array): bigint {
  return base + BigInt(code.length - (arch === 'x64' ? 1 : 4));
}

/** Blocks the engine translated with an inline counter (UnicornEngine.inlineBlockCounters). */
function inlineBlockCounters(e: CpuEngine): number {
  return (e as unknown as { inlineBlockCounters(): number }).inlineBlockCounters();
}

function setUp(arch: Arch) {
  const e = openUnicorn(arch);
  const code = assemble(arch, PROGRAM[arch]);
  const text = e.map(CODE, 0x1000, PROT_READ | PROT_EXEC);
  text.set(code);
  const data = e.map(DATA, 0x1000, PROT_READ | PROT_WRITE);
  const regs = registersOf(arch);
  e.regWrite(regs.ids[regs.intArgs[0]], DATA);
  return { e, data, regs, end: finalInstruction(arch, CODE, code) };
}

for (const arch of ARCHES) {
  test(`${arch}: registers round-trip by id, singly and in a batch`, (t) => {
    const { e, regs } = setUp(arch);
    const names = regs.gprs.filter((r) => r !== regs.sp);
    names.forEach((r, i) => e.regWrite(regs.ids[r], 0x1111_0000_0000_0000n + BigInt(i)));
    const ids = names.map((r) => regs.ids[r]);
    const out = new BigUint64Array(ids.length);
    e.regReadBatch(ids, out);
    names.forEach((r, i) => {
      t.is(out[i], 0x1111_0000_0000_0000n + BigInt(i), r);
      t.is(e.regRead(regs.ids[r]), out[i], r);
    });
    e.close();
  });

  test(`${arch}: memory views, hooks for blocks, code ranges and memory accesses`, (t) => {
    const { e, data, end } = setUp(arch);
    const blocks: bigint[] = [];
    const code: bigint[] = [];
    const accesses: MemoryAccess[] = [];
    e.hookBlock((a) => blocks.push(a));
    e.hookCode((a) => code.push(a), CODE, CODE + 7n);
    const mem = e.hookMemory({ read: true, write: true }, (a) => accesses.push(a), DATA + 8n, DATA + 15n);
    const stop = e.start(CODE, end);
    t.is(stop.error, 0, stop.message);
    // the view sees guest stores; engine reads agree
    const dv = new DataView(data.buffer, data.byteOffset, 24);
    t.deepEqual([dv.getBigUint64(0, true), dv.getBigUint64(8, true), dv.getBigUint64(16, true)], [1n, 2n, 3n]);
    t.deepEqual([...e.read(DATA + 16n, 8)], [3, 0, 0, 0, 0, 0, 0, 0]);
    t.is(blocks.length, 2);
    t.is(blocks[0], CODE);
    t.true(code.length >= 1 && code.every((a) => a >= CODE && a <= CODE + 7n));
    t.deepEqual(accesses.map((a) => [a.kind, a.address, a.size]), [['write', DATA + 8n, 8], ['read', DATA + 8n, 8]]);
    t.is(accesses[0].value, 2n);
    e.removeHook(mem);
    e.close();
  });

  test(`${arch}: invalid accesses report kind and address; engine errors carry Unicorn's message`, (t) => {
    const { e, regs, end } = setUp(arch);
    e.regWrite(regs.ids[regs.intArgs[0]], 0x40n);
    const seen: unknown[] = [];
    const h = e.hookInvalidMemory((f) => seen.push(f));
    const stop = e.start(CODE, end);
    t.deepEqual(seen, [{ kind: 'write-unmapped', address: 0x40n, size: 8 }]);
    e.removeHook(h);
    t.not(stop.error, 0);
    t.deepEqual(stop.fault, { kind: 'write-unmapped', address: 0x40n, size: 8 });
    t.regex(stop.message, /UC_ERR_WRITE_UNMAPPED/);
    const err = t.throws(() => e.map(CODE, 0x1000, PROT_READ), { instanceOf: EngineError }) as EngineError;
    t.regex(err.message, /uc_mem_map_ptr failed at 0x10000: .*UC_ERR_MAP/);
    t.throws(() => e.map(0x1001n, 0x1000, PROT_READ), { instanceOf: EngineError });
    t.throws(() => e.read(0x900000n, 8), { instanceOf: EngineError });
    // (Unicorn 2.0.1 accepts unknown register ids silently; Machine checks names instead.)
    e.close();
  });

  test(`${arch}: the native counter counts exactly and stops at the budget`, (t) => {
    const { e, end } = setUp(arch);
    e.setLimits({ budget: null, deadline: null });
    e.setLimits({ budget: 1000n, deadline: null });
    t.is(e.start(CODE, end).error, 0);
    // 8 instructions run (the final nop is `until`)
    t.is(e.counters().instructions, 8n);
    t.is(e.counters().blocks, 2n);
    const counts = e.blockCounts().sort((a, b) => (a[0] < b[0] ? -1 : 1));
    t.deepEqual(counts.map(([a, , n, c]) => [a, n, c]), [[CODE, 5, 1n], [counts[1][0], 3, 1n]]);
    e.resetCounters();
    e.setLimits({ budget: 5n, deadline: null });
    const stop = e.start(CODE, end);
    t.is(stop.limit, 'budget');
    t.is(e.counters().instructions, 5n, 'the first block fits the budget exactly, the second does not');
    e.resetCounters();
    e.setLimits({ budget: 4n, deadline: null });
    const stop2 = e.start(CODE, end);
    t.is(stop2.limit, 'budget');
    t.is(e.counters().instructions, 0n, 'a block that does not fit is not started');
    e.close();
  });
}

/**
 * A loop whose blocks have different sizes: the entry block (3 instructions: it runs through
 * the first loop block up to its jump), then 4, then 2 and 4 alternating, 1,000 times.
 */
const ALTERNATING: Record<Arch, string> = {
  x64: 'mov rcx, 1000\n1: add rax, 1\njmp 2f\n2: add rbx, 1\nadd rbx, 1\ndec rcx\njnz 1b\nnop\n',
  aarch64: 'mov x1, #1000\n1: add x0, x0, #1\nb 2f\n2: add x2, x2, #1\nadd x2, x2, #1\nsubs x1, x1, #1\nb.ne 1b\nnop\n',
};

/** The instructions of the longest prefix of the block sequence that fits in `budget`. */
function fittingPrefix(budget: number): number {
  const sizes = [3, 4];
  for (let i = 1; i < 1000; i++) sizes.push(2, 4);
  let total = 0;
  for (const s of sizes) {
    if (total + s > budget) break;
    total += s;
  }
  return total;
}

/** A fresh engine with ALTERNATING mapped at CODE; `end` is its final `nop`. */
function alternating(arch: Arch, options: UnicornOptions = {}) {
  const e = openUnicorn(arch, options);
  const code = assemble(arch, ALTERNATING[arch]);
  e.map(CODE, 0x1000, PROT_READ | PROT_EXEC).set(code);
  return { e, code, end: finalInstruction(arch, CODE, code) };
}

for (const arch of ARCHES) for (const inlineCounters of [true, false]) {
  const how = inlineCounters ? 'inline counters' : 'the hook call';
  test(`${arch}, ${how}: budgets stop exactly at the first block that does not fit, grants and reclaims notwithstanding`, (t) => {
    const { e, end } = alternating(arch, { inlineCounters });
    try {
      fc.assert(fc.property(fc.integer({ min: 0, max: 6100 }), (budget) => {
        e.resetCounters();
        e.setLimits({ budget: BigInt(budget), deadline: null });
        const stop = e.start(CODE, end);
        const expected = fittingPrefix(budget);
        const done = expected === 6001;
        if ((stop.limit === 'budget') === done) return false;
        return e.counters().instructions === BigInt(expected);
      }), { numRuns: 300 });
      // A budget changed in the middle of a run (as a nested call's setLimits would) takes
      // effect from there: grants handed out before are withdrawn.
      e.resetCounters();
      e.setLimits({ budget: 1000n, deadline: null });
      t.is(e.start(CODE, end).limit, 'budget');
      t.is(e.counters().instructions, BigInt(fittingPrefix(1000)));
      e.setLimits({ budget: 2000n, deadline: null });
      const pc = e.regRead(registersOf(arch).ids[registersOf(arch).pc]);
      t.is(e.start(pc, end).limit, 'budget');
      t.is(e.counters().instructions, BigInt(fittingPrefix(2000)));
      const counters = inlineBlockCounters(e);
      const native = e as unknown as { nearInlineBlockCounters(): number; blockStartChecksElided(): number };
      const near = native.nearInlineBlockCounters();
      const unchecked = native.blockStartChecksElided();
      if (inlineCounters) {
        t.true(counters >= 3, `${counters} blocks translated with an inline counter`);
        // All but the first block translated (which runs before the counters learn where the
        // CPU state is) reach their count from the CPU state pointer, and every block counted
        // inline goes without Unicorn's exit check at its start: the budget stops above were
        // made by the counter's call leaving the block.
        t.true(near >= 1 && near <= counters, `${near} of ${counters} inline counters near the CPU state`);
        t.is(unchecked, counters);
      } else {
        t.is(counters, 0);
        t.is(near, 0);
        t.is(unchecked, 0);
      }
    } finally {
      e.close();
    }
  });
}

/** Runs ALTERNATING on a fresh engine; its counts, then (with `trace`) the traced block addresses of a second run. */
function countAndTrace(arch: Arch, options: { inlineCounters: boolean; extraHook?: boolean }) {
  const { e, end } = alternating(arch, { inlineCounters: options.inlineCounters });
  let hooked = 0;
  if (options.extraHook) e.hookBlock(() => hooked++);
  e.setLimits({ budget: 100_000n, deadline: null });
  const first = e.start(CODE, end);
  const hookedFirst = hooked;
  const counts = e.blockCounts().sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const instructions = e.counters().instructions;
  const traced: number[] = [];
  e.traceBlocks!((trace, length) => { for (let i = 0; i < length; i++) traced.push(trace[i]); });
  e.resetCounters();
  e.setLimits({ budget: 3001n, deadline: null });
  const second = e.start(CODE, end);
  e.traceBlocks!(null);
  const afterTrace = e.counters().instructions;
  const tracedBlocks = Number(e.counters().blocks);
  const inline = inlineBlockCounters(e);
  e.close();
  return { first: first.limit ?? first.error, counts, instructions, hooked: hookedFirst, traced, tracedBlocks, second: second.limit, afterTrace, inline };
}

for (const arch of ARCHES) {
  test(`${arch}: inline counters count, stop and trace exactly as the hook call does, also beside another block hook`, (t) => {
    const call = countAndTrace(arch, { inlineCounters: false });
    const inline = countAndTrace(arch, { inlineCounters: true });
    const both = countAndTrace(arch, { inlineCounters: true, extraHook: true });
    t.is(call.instructions, 6001n);
    t.is(call.inline, 0);
    t.true(inline.inline > 0);
    // Beside a second block hook Unicorn calls its hook dispatcher, not the inline counter.
    t.is(both.inline, 0);
    // (it may see a new block twice: the counter stops there to have it described)
    t.true(both.hooked >= 2001 && both.hooked <= 2001 + call.counts.length, `${both.hooked} block hook calls`);
    for (const r of [inline, both]) {
      t.deepEqual(r.counts, call.counts);
      t.is(r.instructions, call.instructions);
      t.is(r.first, call.first);
      t.is(r.second, 'budget');
      t.is(r.afterTrace, BigInt(fittingPrefix(3001)));
      t.deepEqual(r.traced, call.traced);
    }
    t.is(call.traced.length, call.tracedBlocks);
    t.is(call.tracedBlocks, 1000);
  });
}

for (const arch of ARCHES) {
  test(`${arch}: stores to a writable page take the fast path (the page is marked dirty when its TLB entry is filled); the page-collection replacement is in effect`, (t) => {
    const e = openUnicorn(arch);
    const code = assemble(arch, arch === 'x64'
      ? 'mov rcx, 1000\n1: mov [rdi + 8], rcx\ndec rcx\njnz 1b\nnop\n'
      : 'mov x1, #1000\n1: str x1, [x0, #8]\nsubs x1, x1, #1\nb.ne 1b\nnop\n');
    e.map(CODE, 0x1000, PROT_READ | PROT_EXEC).set(code);
    const data = e.map(DATA, 0x1000, PROT_READ | PROT_WRITE);
    const regs = registersOf(arch);
    e.regWrite(regs.ids[regs.intArgs[0]], DATA);
    const before = pageCollectionsReplaced();
    t.is(e.start(CODE, finalInstruction(arch, CODE, code)).error, 0);
    t.is(data[8], 1, 'the last store wrote 1');
    const locked = pageCollectionsReplaced() - before;
    // Only the run's `until` drops translated code (through the replacement); no store does.
    t.true(locked >= 1n, 'code invalidation went through the replacement');
    t.true(locked <= 2n, `${locked} page collections for 1,000 stores`);
    t.is((e as unknown as { fastStorePages(): number }).fastStorePages(), 1);
    t.is((e as unknown as { tlbFills(): { fills: number } }).tlbFills().fills, 2, 'one TLB fill for the code page, one for the data page');
    e.close();
  });

  test(`${arch}: engines opened and closed one after another each count their own TLB fills (no closed engine's record is found again)`, (t) => {
    // Once, the native helper's cache of "the engine of the CPU seen last" outlived ss_engine_close:
    // the next engine's CPU, allocated at the same address, found the freed record, whose counts
    // (and store ranges) it then used. Every engine must see exactly its own two fills.
    const code = assemble(arch, arch === 'x64' ? 'mov [rdi + 8], rdi\nnop\n' : 'str x0, [x0, #8]\nnop\n');
    const regs = registersOf(arch);
    for (let i = 0; i < 20; i++) {
      const e = openUnicorn(arch);
      try {
        e.map(CODE, 0x1000, PROT_READ | PROT_EXEC).set(code);
        e.map(DATA, 0x1000, PROT_READ | PROT_WRITE);
        e.regWrite(regs.ids[regs.intArgs[0]], DATA);
        t.is(e.start(CODE, finalInstruction(arch, CODE, code)).error, 0);
        t.is((e as unknown as { tlbFills(): { fills: number } }).tlbFills().fills, 2, `engine ${i}: one fill for the code page, one for the data page`);
      } finally {
        e.close();
      }
    }
  });

  test(`${arch}: startCall writes, runs and reads in one round trip as regWrite, start and regRead do; interrupts stop the run natively`, (t) => {
    const e = openUnicorn(arch);
    const regs = registersOf(arch);
    // r0 = a + b, then a trap instruction.
    const code = assemble(arch, arch === 'x64' ? 'lea rax, [rdi + rsi]\nint3\n' : 'add x0, x0, x1\nbrk #0\n');
    e.map(CODE, 0x1000, PROT_READ | PROT_EXEC).set(code);
    e.stopOnInterrupts!();
    e.setLimits({ budget: 1000n, deadline: null });
    const call = e.callRegisters!;
    const [a, b] = [regs.ids[regs.intArgs[0]], regs.ids[regs.intArgs[1]]];
    call.writeIds.set([a, b]);
    call.writeCount = 2;
    call.readIds.set([regs.ids[regs.intResult], regs.ids[regs.pc]]);
    call.readCount = 2;
    for (const [x, y] of [[2n, 3n], [40n, 2n], [(1n << 64n) - 1n, 2n]]) {
      call.writeValues[0] = x;
      call.writeValues[2] = y;
      e.resetCounters();
      const stop = e.startCall!(CODE, 0n);
      t.is(stop.error, 0);
      t.is(stop.interrupt, arch === 'x64' ? 3 : 7, 'the breakpoint exception');
      t.is(call.readValues[0], (x + y) & ((1n << 64n) - 1n));
      t.is(call.readValues[0], e.regRead(regs.ids[regs.intResult]));
      t.is(call.readValues[2], e.regRead(regs.ids[regs.pc]));
      t.is(e.counters().instructions, 2n, 'counted afresh each call');
    }
    // The budget set before the call applies to it.
    e.setLimits({ budget: 1n, deadline: null });
    e.resetCounters();
    t.is(e.startCall!(CODE, 0n).limit, 'budget');
    e.close();
  });

  test(`${arch}: loads are translated without Unicorn's exit check unless a hook watches valid accesses, which still stops the run right after the access`, (t) => {
    // Two loads into two registers: a stop right after the first leaves the second at 0.
    const src = arch === 'x64' ? 'mov rsi, [rdi]\nmov rdx, [rdi + 8]\nnop\n' : 'ldr x1, [x0]\nldr x2, [x0, #8]\nnop\n';
    const run = (watch: boolean) => {
      const e = openUnicorn(arch);
      const code = assemble(arch, src);
      e.map(CODE, 0x1000, PROT_READ | PROT_EXEC).set(code);
      const data = e.map(DATA, 0x1000, PROT_READ | PROT_WRITE);
      data[0] = 7;
      data[8] = 9;
      const regs = registersOf(arch);
      e.regWrite(regs.ids[regs.intArgs[0]], DATA);
      e.setLimits({ budget: 1000n, deadline: null });
      if (watch) e.hookMemory({ read: true }, () => e.stop());
      t.is(e.start(CODE, finalInstruction(arch, CODE, code)).error, 0);
      const loaded = [regs.intArgs[1], regs.intArgs[2]].map((r) => e.regRead(regs.ids[r]));
      const elided = (e as unknown as { exitChecksElided(): number }).exitChecksElided();
      e.close();
      return { loaded, elided };
    };
    const plain = run(false);
    t.true(plain.elided >= 2, `${plain.elided} loads translated without the check`);
    t.deepEqual(plain.loaded, [7n, 9n]);
    const watched = run(true);
    t.is(watched.elided, 0);
    // Stopped at the first load: the second never ran (x86-64 stops before the first writes
    // its register, AArch64 after; both as Unicorn 2.0.1 does with its own checks).
    t.is(watched.loaded[1], 0n, 'the second load did not run');
    t.is(watched.loaded[0], arch === 'x64' ? 0n : 7n);
  });

  test(`${arch}: stores are translated without the exit check too (a faulting store leaves its block at once, with its own error and address); a hook on writes still stops the run right after the store`, (t) => {
    // Two stores, then a register write: a stop right after the first store leaves the second
    // store and the register write undone.
    const src = arch === 'x64' ? 'mov [rdi], rsi\nmov [rdi + 8], rsi\nmov rdx, 5\nnop\n' : 'str x1, [x0]\nstr x1, [x0, #8]\nmov x2, #5\nnop\n';
    const regs = registersOf(arch);
    const [arg, value, after] = [regs.intArgs[0], regs.intArgs[1], regs.intArgs[2]];
    const run = (target: bigint, watch: boolean) => {
      const e = openUnicorn(arch);
      t.true((e as unknown as { storeFaultsExit: boolean }).storeFaultsExit);
      const code = assemble(arch, src);
      e.map(CODE, 0x1000, PROT_READ | PROT_EXEC).set(code);
      const data = e.map(DATA, 0x1000, PROT_READ | PROT_WRITE);
      e.map(0x50000n, 0x1000, PROT_READ);
      e.regWrite(regs.ids[arg], target);
      e.regWrite(regs.ids[value], 0x1234n);
      e.setLimits({ budget: 1000n, deadline: null });
      if (watch) e.hookMemory({ write: true }, () => e.stop());
      const stop = e.start(CODE, finalInstruction(arch, CODE, code));
      const out = {
        stop, stored: [data[0], data[8]], after: e.regRead(regs.ids[after]), pc: e.regRead(regs.ids[regs.pc]),
        elided: (e as unknown as { exitChecksElided(): number }).exitChecksElided(),
      };
      e.close();
      return out;
    };
    const plain = run(DATA, false);
    t.is(plain.stop.error, 0);
    t.true(plain.elided >= 2, `${plain.elided} stores translated without the check`);
    t.deepEqual(plain.stored, [0x34, 0x34]);
    t.is(plain.after, 5n);
    const watched = run(DATA, true);
    t.is(watched.elided, 0);
    t.deepEqual(watched.stored, [0x34, 0], 'the second store did not run');
    t.is(watched.after, 0n);
    // Unmapped (UC_ERR_WRITE_UNMAPPED, 7) and read-only (UC_ERR_WRITE_PROT, 12): the error,
    // the fault's kind and address, the PC at the store, nothing after it run.
    for (const [target, error, kind] of [[0x90000n, 7, 'write-unmapped'], [0x50000n, 12, 'write-protected']] as const) {
      const faulted = run(target, false);
      t.is(faulted.stop.error, error, kind);
      t.deepEqual(faulted.stop.fault, { kind, address: target, size: 8 }, kind);
      t.is(faulted.pc, CODE, `${kind}: the PC is the store`);
      t.is(faulted.after, 0n, `${kind}: the instruction after it did not run`);
    }
  });

  test(`${arch}: a guest touching more pages than the TLB holds makes it grow; its stores stay on the fast path`, (t) => {
    const e = openUnicorn(arch);
    // 500 passes of a 1 KiB-strided read-modify-write walk over 4 MiB (1,024 pages of 4 KiB on
    // x86-64, 4,096 of Unicorn's 1 KiB pages on AArch64), more than the 256-entry TLB holds,
    // with a budget so the native counter (whose slow path lets the TLB grow) runs.
    const code = assemble(arch, arch === 'x64'
      ? 'mov r8, 500\n1: mov rcx, 4096\nmov rsi, rdi\n2: add qword ptr [rsi], 1\nadd rsi, 1024\ndec rcx\njnz 2b\ndec r8\njnz 1b\nnop\n'
      : 'mov x8, #500\n1: mov x2, #4096\nmov x3, x0\n2: ldr x1, [x3]\nadd x1, x1, #1\nstr x1, [x3]\nadd x3, x3, #1024\nsubs x2, x2, #1\nb.ne 2b\nsubs x8, x8, #1\nb.ne 1b\nnop\n');
    e.map(CODE, 0x1000, PROT_READ | PROT_EXEC).set(code);
    const base = 0x100_0000n;
    const data = e.map(base, 4 << 20, PROT_READ | PROT_WRITE);
    const regs = registersOf(arch);
    e.regWrite(regs.ids[regs.intArgs[0]], base);
    e.setLimits({ budget: 1n << 40n, deadline: null });
    const locked = pageCollectionsReplaced();
    t.is(e.start(CODE, finalInstruction(arch, CODE, code)).error, 0);
    t.is(data[0], 500 % 256);
    t.is(data[(4 << 20) - 1024], 500 % 256);
    const { fills, growths } = (e as unknown as { tlbFills(): { fills: number; growths: number } }).tlbFills();
    t.true(growths >= 2, `the TLB grew ${growths} times`);
    // A TLB that did not grow would refill an entry on every one of the 2 million accesses.
    t.true(fills < 100_000, `${fills} TLB fills for 2,048,000 accesses`);
    // Fills of data pages mark them dirty: of 2 million stores a handful at most (around the
    // flushes) take the slow path, which locks a page collection.
    t.true(pageCollectionsReplaced() - locked <= 16n, `${pageCollectionsReplaced() - locked} page collections`);
    e.close();
  });

  test(`${arch}: code written through guest stores still runs as written once made executable`, (t) => {
    // Self-modifying code across a protection change: a page runs, turns writable, is patched
    // by guest stores (fast ones after the first), turns executable again and runs the patch.
    const e = openUnicorn(arch);
    const regs = registersOf(arch);
    const page = 0x30000n;
    const patchable = e.map(page, 0x1000, PROT_READ | PROT_EXEC);
    const before = assemble(arch, arch === 'x64' ? 'mov eax, 1\nnop\n' : 'mov x0, #1\nnop\n');
    const after = assemble(arch, arch === 'x64' ? 'mov eax, 2\nnop\n' : 'mov x0, #2\nnop\n');
    patchable.set(before);
    const stop = page + BigInt(before.length - (arch === 'x64' ? 1 : 4));
    // Entered by a jump, not as the start address (Unicorn re-translates the block it starts at).
    const jumper = 0x40000n;
    e.map(jumper, 0x1000, PROT_READ | PROT_EXEC).set(assemble(arch, arch === 'x64' ? 'jmp rsi\n' : 'br x1\n'));
    e.regWrite(regs.ids[regs.intArgs[1]], page);
    t.is(e.start(jumper, stop).error, 0);
    t.is(e.regRead(regs.ids[regs.intResult]), 1n);
    e.protect(page, 0x1000, PROT_READ | PROT_WRITE);
    // The patcher: a first store far from the code (the page's slow-path store, after which
    // the page is marked dirty), then the new bytes, 8 at a time, by fast-path stores.
    const words = new BigUint64Array(2);
    new Uint8Array(words.buffer).set(after);
    const patcher = assemble(arch, arch === 'x64'
      ? `mov [rdi + 0x800], rdi\nmov rax, ${words[0]}\nmov [rdi], rax\nmov rax, ${words[1]}\nmov [rdi + 8], rax\nnop\n`
      : `str x0, [x0, #0x800]\nldr x1, 2f\nstr x1, [x0]\nldr x1, 3f\nstr x1, [x0, #8]\nnop\n.p2align 3\n2: .quad ${words[0]}\n3: .quad ${words[1]}\n`);
    e.map(CODE, 0x1000, PROT_READ | PROT_EXEC).set(patcher);
    e.regWrite(regs.ids[regs.intArgs[0]], page);
    const patcherEnd = CODE + (arch === 'x64' ? BigInt(patcher.length - 1) : 20n); // the nop
    t.is(e.start(CODE, patcherEnd).error, 0);
    t.deepEqual([...patchable.subarray(0, after.length)], [...after]);
    t.true((e as unknown as { fastStorePages(): number }).fastStorePages() >= 1, 'the patch went through the fast path');
    e.protect(page, 0x1000, PROT_READ | PROT_EXEC);
    e.regWrite(regs.ids[regs.intResult], 0n);
    e.regWrite(regs.ids[regs.intArgs[1]], page);
    t.is(e.start(jumper, stop).error, 0);
    t.is(e.regRead(regs.ids[regs.intResult]), 2n, 'the patched instruction ran, not the translation of the old one');
    e.close();
  });
}

for (const arch of ARCHES) {
  test(`${arch}: exact fault PCs come from the native restore, with no access hooks: loads, stores, protection`, (t) => {
    const e = openUnicorn(arch, { exactFaultPc: true });
    const restorer = e as unknown as { exactFaultMethod: string; faultPcsRestored(): number };
    t.is(restorer.exactFaultMethod, 'restore');
    const regs = registersOf(arch);
    // Three instructions run before the faulting access, in the same block; one follows it.
    const program = (access: string) => assemble(arch, arch === 'x64'
      ? `mov rax, 1\nadd rax, 2\nadd rax, 3\n${access}\nadd rax, 4\nnop\n`
      : `mov x0, #1\nadd x0, x0, #2\nadd x0, x0, #3\n${access}\nadd x0, x0, #4\nnop\n`);
    // Unmapped load, unmapped store, store to a read-only page.
    const cases: Array<[string, string, bigint]> = arch === 'x64'
      ? [['load', 'mov rcx, [rdi]', 0x90000n], ['store', 'mov [rdi], rax', 0x90000n], ['protected store', 'mov [rdi], rax', 0x50000n]]
      : [['load', 'ldr x1, [x3]', 0x90000n], ['store', 'str x0, [x3]', 0x90000n], ['protected store', 'str x0, [x3]', 0x50000n]];
    e.map(0x50000n, 0x1000, PROT_READ);
    let base = CODE;
    for (const [name, access, target] of cases) {
      const code = program(access);
      e.map(base, 0x1000, PROT_READ | PROT_EXEC).set(code);
      e.regWrite(regs.ids[arch === 'x64' ? 'rdi' : 'x3'], target);
      const before = restorer.faultPcsRestored();
      const stop = e.start(base, finalInstruction(arch, base, code));
      t.not(stop.error, 0, name);
      const faultAt = base + BigInt(arch === 'x64' ? 7 + 4 + 4 : 12); // mov rax,1 (7) + two 4-byte adds
      t.is(e.regRead(regs.ids[regs.pc]), faultAt, `${name}: the PC is the faulting instruction`);
      t.is(e.regRead(regs.ids[regs.intResult]), 6n, `${name}: the instructions before it ran, the one after did not`);
      t.is(restorer.faultPcsRestored(), before + 1, name);
      base += 0x1000n;
    }
    e.close();
  });
}

for (const arch of ARCHES) {
  test(`${arch}: inline counters agree with the hook call run for run when \`until\` cuts blocks short (one start, several sizes)`, (t) => {
    const setups = [true, false].map((inlineCounters) => alternating(arch, { inlineCounters }));
    const engines = setups.map((s) => s.e);
    const boundaries = createDisassembler(arch).disasm(setups[0].code, CODE).map((i) => i.address);
    const pc = registersOf(arch).ids[registersOf(arch).pc];
    try {
      const step = fc.record({ until: fc.constantFrom(...boundaries.slice(1)), budget: fc.option(fc.integer({ min: 0, max: 7000 })), reset: fc.boolean() });
      fc.assert(fc.property(fc.array(step, { minLength: 1, maxLength: 8 }), (steps) => {
        const seen = engines.map((e) => {
          e.resetCounters();
          const out: unknown[] = [];
          for (const { until, budget, reset } of steps) {
            if (reset) e.resetCounters();
            e.setLimits({ budget: budget === null ? null : BigInt(budget), deadline: null });
            const stop = e.start(CODE, until);
            const c = e.counters();
            // every run ends at its `until` or its budget
            if (stop.error !== 0 || (stop.limit === null && e.regRead(pc) !== until)) throw new Error(`run to ${until} ended at ${e.regRead(pc)}: ${stop.message}`);
            out.push(stop.limit ?? stop.error, e.regRead(pc), c.instructions, c.blocks, e.blockCounts().sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1])));
          }
          return out;
        });
        t.deepEqual(seen[0], seen[1]);
        return true;
      }), { numRuns: 60 });
      t.true(inlineBlockCounters(engines[0]) > 0);
    } finally {
      for (const e of engines) e.close();
    }
  });
}

for (const arch of ARCHES) {
  test(`${arch}: a run stops at its \`until\` even where an earlier run translated a block (Unicorn checks it only when translating)`, (t) => {
    const { e, code, end } = alternating(arch);
    const [, loopHead] = createDisassembler(arch).disasm(code, CODE).map((i) => i.address);
    const pc = registersOf(arch).ids[registersOf(arch).pc];
    try {
      e.setLimits({ budget: 100_000n, deadline: null });
      t.is(e.start(CODE, end).error, 0);
      t.is(e.regRead(pc), end);
      t.is(e.counters().instructions, 6001n);
      // The loop head's block was translated (and chained to) in that run.
      e.resetCounters();
      t.is(e.start(CODE, loopHead).error, 0);
      t.is(e.regRead(pc), loopHead);
      t.is(e.counters().instructions, 1n);
      e.resetCounters();
      t.is(e.start(loopHead, end).error, 0);
      t.is(e.regRead(pc), end);
      t.is(e.counters().instructions, 6000n);
    } finally {
      e.close();
    }
  });
}

for (const arch of ARCHES) {
  test(`${arch}: engines opened and closed one after another hold no callbacks (koffi allows 8,192 at once per process)`, (t) => {
    for (let i = 0; i < 8_300; i++) openUnicorn(arch, { exactFaultPc: i % 2 === 0 }).close();
    const { e, data, end } = setUp(arch);
    try {
      t.is(e.start(CODE, end).error, 0);
      t.is(data[16], 3);
    } finally {
      e.close();
    }
  });

  test(`${arch}: more than 256 engines (the native helper once had a table of 256) can be open at once, and each runs`, (t) => {
    const open: CpuEngine[] = [];
    try {
      for (let i = 0; i < 260; i++) open.push(openUnicorn(arch));
      const { e, data, end } = setUp(arch);
      open.push(e);
      t.is(e.start(CODE, end).error, 0);
      t.is(data[16], 3);
    } finally {
      for (const e of open) e.close();
    }
  });
}
