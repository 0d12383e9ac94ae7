import test from 'ava';
import fc from 'fast-check';
import { ARCHES, type Arch } from '../isa/arch.ts';
import { PROT_EXEC, PROT_READ, PROT_WRITE } from './engine.ts';
import { Machine, MachineError, type Region } from './machine.ts';
import { GuestTrap, type TrapKind } from './trap.ts';
import { assembleMany } from './testing/asm.ts';

/** Snippets per arch; every label is local to its snippet. Each is placed at its own address. */
const SOURCES: Record<Arch, Record<string, string>> = {
  x64: {
    // sum(ptr, n): 64-bit words
    sum: 'xor eax, eax\n1: test rsi, rsi\njz 2f\nadd rax, [rdi]\nadd rdi, 8\ndec rsi\njmp 1b\n2: ret',
    // weighted(a1..a10) = Σ i·ai
    weighted: `mov rax, rdi\nlea rax, [rax + rsi*2]\nimul rdx, rdx, 3\nadd rax, rdx\nimul rcx, rcx, 4\nadd rax, rcx\nimul r8, r8, 5\nadd rax, r8\nimul r9, r9, 6\nadd rax, r9\n` +
      `mov r10, [rsp+8]\nimul r10, r10, 7\nadd rax, r10\nmov r10, [rsp+16]\nimul r10, r10, 8\nadd rax, r10\n` +
      `mov r10, [rsp+24]\nimul r10, r10, 9\nadd rax, r10\nmov r10, [rsp+32]\nimul r10, r10, 10\nadd rax, r10\nret`,
    // callHost10(fn): calls fn(1..10) and returns its result + 1
    callHost10: 'push rbp\nmov rbp, rsp\nmov rax, rdi\npush 10\npush 9\npush 8\npush 7\nmov edi, 1\nmov esi, 2\nmov edx, 3\nmov ecx, 4\nmov r8d, 5\nmov r9d, 6\ncall rax\nadd rsp, 32\nadd rax, 1\npop rbp\nret',
    // callHost1(fn, n): returns fn(n) + n (n kept in a callee-saved register across the call)
    callHost1: 'push rbp\nmov rbp, rsp\npush rbx\nsub rsp, 8\nmov rbx, rsi\nmov rax, rdi\nmov rdi, rsi\ncall rax\nadd rax, rbx\nadd rsp, 8\npop rbx\npop rbp\nret',
    // loopHost(fn, n): calls fn(i) for i = n..1, returns n
    loopHost: 'push rbp\nmov rbp, rsp\npush rbx\npush r12\nmov r12, rdi\nmov rbx, rsi\n1: test rbx, rbx\njz 2f\nmov rdi, rbx\ncall r12\ndec rbx\njmp 1b\n2: mov rax, rsi\npop r12\npop rbx\npop rbp\nret',
    readFault: 'mov rax, 1\nadd rax, 2\nmov rcx, [rdi]\nadd rax, rcx\nret',
    writeFault: 'mov rax, 1\nadd rax, 2\nmov [rdi], rax\nret',
    fetchFault: 'mov rax, 1\njmp rdi',
    invalid: 'mov rax, 1\nud2\nret',
    divide: 'mov rax, 7\nxor edx, edx\ndiv rdi\nret',
    breakpoint: 'mov rax, 1\nint3\nret',
    spin: '1: add rax, 1\njmp 1b',
    recurse: '0: push rbp\nmov rbp, rsp\nsub rsp, 64\ncall 0b\nud2',
    halt: 'hlt\nret',
  },
  aarch64: {
    sum: 'mov x2, x0\nmov x0, #0\n1: cbz x1, 2f\nldr x3, [x2], #8\nadd x0, x0, x3\nsub x1, x1, #1\nb 1b\n2: ret',
    weighted: `add x0, x0, x1, lsl #1\nmov x9, #3\nmadd x0, x2, x9, x0\nmov x9, #4\nmadd x0, x3, x9, x0\nmov x9, #5\nmadd x0, x4, x9, x0\n` +
      `mov x9, #6\nmadd x0, x5, x9, x0\nmov x9, #7\nmadd x0, x6, x9, x0\nmov x9, #8\nmadd x0, x7, x9, x0\n` +
      `ldr x10, [sp]\nmov x9, #9\nmadd x0, x10, x9, x0\nldr x10, [sp, #8]\nmov x9, #10\nmadd x0, x10, x9, x0\nret`,
    callHost10: 'stp x29, x30, [sp, #-16]!\nmov x29, sp\nsub sp, sp, #16\nmov x9, x0\nmov x10, #9\nmov x11, #10\nstp x10, x11, [sp]\n' +
      'mov x0, #1\nmov x1, #2\nmov x2, #3\nmov x3, #4\nmov x4, #5\nmov x5, #6\nmov x6, #7\nmov x7, #8\nblr x9\nadd sp, sp, #16\nadd x0, x0, #1\nldp x29, x30, [sp], #16\nret',
    callHost1: 'stp x29, x30, [sp, #-32]!\nmov x29, sp\nstr x19, [sp, #16]\nmov x19, x1\nmov x9, x0\nmov x0, x1\nblr x9\nadd x0, x0, x19\nldr x19, [sp, #16]\nldp x29, x30, [sp], #32\nret',
    loopHost: 'stp x29, x30, [sp, #-32]!\nmov x29, sp\nstp x19, x20, [sp, #16]\nmov x19, x0\nmov x20, x1\n1: cbz x20, 2f\nmov x0, x20\nblr x19\nsub x20, x20, #1\nb 1b\n2: ldp x19, x20, [sp, #16]\nldp x29, x30, [sp], #32\nmov x0, x1\nret',
    readFault: 'mov x1, #1\nadd x1, x1, #2\nldr x2, [x0]\nadd x0, x1, x2\nret',
    writeFault: 'mov x1, #1\nadd x1, x1, #2\nstr x1, [x0]\nret',
    fetchFault: 'mov x1, #1\nbr x0',
    invalid: 'mov x0, #1\nudf #0\nret',
    divide: 'mov x1, #7\nudiv x0, x1, x0\nret',
    breakpoint: 'mov x0, #1\nbrk #1\nret',
    spin: '1: add x0, x0, #1\nb 1b',
    recurse: '0: stp x29, x30, [sp, #-16]!\nmov x29, sp\nsub sp, sp, #64\nbl 0b\nudf #0',
    halt: 'hlt #0\nret',
  },
};

interface Fixture {
  m: Machine;
  fn: Record<string, bigint>;
  text: Region;
  data: Region;
}

const fixtures = new Map<Arch, Fixture>();

async function fixture(arch: Arch): Promise<Fixture> {
  const cached = fixtures.get(arch);
  if (cached) return cached;
  const m = await Machine.create({ arch });
  const names = Object.keys(SOURCES[arch]);
  const blobs = assembleMany(arch, names.map((n) => SOURCES[arch][n]));
  const text = m.map('text', 64 * 1024, PROT_READ | PROT_EXEC);
  const data = m.map('data', 64 * 1024, PROT_READ | PROT_WRITE);
  const fn: Record<string, bigint> = {};
  let offset = 0n;
  names.forEach((n, i) => {
    fn[n] = text.address + offset;
    m.writeBytes(fn[n], blobs[i]);
    offset += (BigInt(blobs[i].length) + 63n) & ~63n;
  });
  const f = { m, fn, text, data };
  fixtures.set(arch, f);
  return f;
}

function expectTrap(t: import('ava').ExecutionContext, run: () => unknown, kind: TrapKind): GuestTrap {
  const e = t.throws(run, { instanceOf: GuestTrap }) as GuestTrap;
  t.is(e.kind, kind, e.message);
  return e;
}

for (const arch of ARCHES) {
  test.serial(`${arch}: arithmetic and memory through a region view`, async (t) => {
    const { m, fn, data } = await fixture(arch);
    const words = [5n, 7n, 11n, 13n, 1n << 40n];
    words.forEach((w, i) => m.writeU64(data.address + BigInt(8 * i), w));
    t.is(m.call(fn.sum, [data.address, words.length]), words.reduce((a, b) => a + b));
    // xor + 5 × (test, jz, add, add, dec, jmp) + test, jz, ret — or the AArch64 equivalent;
    // the gateway's own return trap is not counted
    t.is(m.instructionsExecuted(), arch === 'x64' ? 1n + 5n * 6n + 3n : 2n + 5n * 5n + 2n);
    t.is(m.call(fn.sum, [data.address, 0]), 0n);
    t.is(m.instructionsExecuted(), 4n);
  });

  test.serial(`${arch}: call with 10 arguments (stack arguments too)`, async (t) => {
    const { m, fn } = await fixture(arch);
    const args = [3n, 1n, 4n, 1n, 5n, 9n, 2n, 6n, 5n, 3n];
    const expected = args.reduce((acc, a, i) => acc + a * BigInt(i + 1), 0n);
    t.is(m.call(fn.weighted, args), expected);
    // 64-bit values survive as unsigned
    t.is(m.call(fn.weighted, [-1n, 0, 0, 0, 0, 0, 0, 0, 0, 0]), (1n << 64n) - 1n);
  });

  test.serial(`${arch}: guest calls a host function with 10 arguments`, async (t) => {
    const { m, fn } = await fixture(arch);
    let seen: bigint[] = [];
    const host = m.addHostFunction('ten', 10, (args) => {
      seen = args;
      return args.reduce((a, b) => a + b);
    });
    t.is(m.call(fn.callHost10, [host]), 56n);
    t.deepEqual(seen, [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 10n]);
  });

  test.serial(`${arch}: host → guest → host re-entry 1,000 deep`, async (t) => {
    const { m, fn } = await fixture(arch);
    let deepest = 0;
    const host = m.addHostFunction('descend', 1, ([n]) => {
      deepest = Math.max(deepest, 1000 - Number(n));
      // guest callHost1(fn, n) returns fn(n) + n; recurse until n = 0
      return n === 0n ? 0n : m.call(fn.callHost1, [host, n - 1n]);
    });
    // result = Σ_{k=0}^{1000} k
    t.is(m.call(fn.callHost1, [host, 1000]), 500500n);
    t.is(deepest, 1000);
  });

  test.serial(`${arch}: a trap in a nested guest call propagates through the host function`, async (t) => {
    const { m, fn } = await fixture(arch);
    let hostSaw: unknown;
    const host = m.addHostFunction('nested', 1, () => {
      try {
        return m.call(fn.readFault, [0x10n]);
      } catch (e) {
        hostSaw = e;
        throw e;
      }
    });
    const e = expectTrap(t, () => m.call(fn.callHost1, [host, 1]), 'read-unmapped');
    t.is(e, hostSaw as GuestTrap);
    t.is(e.address, 0x10n);
    // the machine is usable afterwards, with its registers restored
    t.is(m.call(fn.callHost1, [m.addHostFunction('ok', 1, ([n]) => n * 2n), 21]), 63n);
  });

  test.serial(`${arch}: faults are typed traps with the exact PC`, async (t) => {
    const { m, fn, text, data } = await fixture(arch);
    const insnSize = arch === 'x64' ? null : 4n;
    // the faulting instruction is the third of its block
    const readPc = fn.readFault + (insnSize ? 2n * insnSize : 7n + 4n);
    let e = expectTrap(t, () => m.call(fn.readFault, [0x20n]), 'read-unmapped');
    t.is(e.pc, readPc);
    t.is(e.address, 0x20n);
    t.truthy(e.instruction && /ldr|mov/.test(e.instruction), e.instruction);
    t.is(e.instructions, 2n, 'the two instructions before the faulting one ran; the rest of the block did not');

    const writePc = fn.writeFault + (insnSize ? 2n * insnSize : 7n + 4n);
    e = expectTrap(t, () => m.call(fn.writeFault, [0x30n]), 'write-unmapped');
    t.is(e.pc, writePc);
    e = expectTrap(t, () => m.call(fn.writeFault, [text.address + 0x800n]), 'write-protected');
    t.is(e.pc, writePc);
    t.is(e.address, text.address + 0x800n);

    const writeOnly = m.regionByName('write-only') ?? m.map('write-only', 4096, PROT_WRITE);
    e = expectTrap(t, () => m.call(fn.readFault, [writeOnly.address + 8n]), 'read-protected');
    t.is(e.pc, readPc);
    t.is(e.address, writeOnly.address + 8n);

    e = expectTrap(t, () => m.call(fn.fetchFault, [0x5000n]), 'fetch-unmapped');
    t.is(e.pc, 0x5000n);
    e = expectTrap(t, () => m.call(fn.fetchFault, [data.address]), 'fetch-protected');
    t.is(e.pc, data.address);

    const second = fn.invalid + (arch === 'x64' ? 7n : 4n);
    e = expectTrap(t, () => m.call(fn.invalid), 'invalid-instruction');
    t.is(e.pc, second);
    e = expectTrap(t, () => m.call(fn.breakpoint), 'breakpoint');
    t.is(e.pc, fn.breakpoint + (arch === 'x64' ? 7n : 4n));
    t.regex(e.instruction ?? '', arch === 'x64' ? /int3/ : /brk/);
  });

  test.serial(`${arch}: a store that straddles into unmapped memory faults at its PC and writes nothing`, async (t) => {
    // Unicorn stores such a store byte by byte; the native helper makes it fault before the
    // first byte, as x86-64 hardware does and as Wasm requires of an out-of-bounds store.
    const { m, fn, data } = await fixture(arch);
    const end = data.address + BigInt(data.size);
    const writePc = fn.writeFault + (arch === 'x64' ? 7n + 4n : 8n);
    for (const at of [end - 7n, end - 4n, end - 1n]) {
      m.writeU64(end - 8n, 0x1122334455667788n);
      const e = expectTrap(t, () => m.call(fn.writeFault, [at]), 'write-unmapped');
      t.is(e.pc, writePc);
      t.is(e.address, end, 'the first byte past the mapping');
      t.is(m.readU64(end - 8n), 0x1122334455667788n, `a store at end − ${end - at} left the mapped bytes alone`);
    }
    // A store that crosses a page boundary inside mapped memory still writes every byte.
    m.call(fn.writeFault, [data.address + 0xffcn]);
    t.is(m.readU64(data.address + 0xffcn), 3n);
  });

  test.serial(`${arch}: integer divide by zero`, async (t) => {
    const { m, fn } = await fixture(arch);
    if (arch === 'x64') {
      const e = expectTrap(t, () => m.call(fn.divide, [0]), 'divide-error');
      t.is(e.pc, fn.divide + 7n + 2n);
      t.regex(e.instruction ?? '', /div/);
    } else {
      // AArch64 defines udiv by zero as 0; compiled code must check explicitly.
      t.is(m.call(fn.divide, [0]), 0n);
    }
    t.is(m.call(fn.divide, [7]), 1n);
  });

  test.serial(`${arch}: instruction budget and wall-clock timeout`, async (t) => {
    const { m, fn } = await fixture(arch);
    const e = expectTrap(t, () => m.call(fn.spin, [], { budget: 10_000n, timeoutMs: null }), 'budget-exhausted');
    t.is(e.instructions, 10_000n, 'two-instruction blocks fill a budget of 10,000 exactly');
    t.true(e.pc >= fn.spin && e.pc < fn.spin + 16n);
    const started = performance.now();
    expectTrap(t, () => m.call(fn.spin, [], { budget: null, timeoutMs: 150 }), 'timeout');
    const elapsed = performance.now() - started;
    // No upper bound: with no budget the spin never ends by itself, so returning at all is the
    // timeout's doing; how soon after 150 ms depends on the machine's load, not on the code.
    t.true(elapsed >= 150, `${elapsed} ms`);
    // A negative limit is the host's mistake, never a huge unsigned budget or a past deadline.
    t.throws(() => m.call(fn.spin, [], { budget: -1n }), { instanceOf: MachineError, message: /budget must be a positive/ });
    t.throws(() => m.call(fn.spin, [], { timeoutMs: -5 }), { instanceOf: MachineError, message: /timeoutMs must be a positive/ });
    t.throws(() => m.call(fn.spin, [], { timeoutMs: Number.NaN }), { instanceOf: MachineError });
    await t.throwsAsync(Machine.create({ arch, timeoutMs: -1 }), { instanceOf: MachineError });
  });

  test.serial(`${arch}: a budget equal to the instructions a call reports is enough (the return and host stubs are not the guest's)`, async (t) => {
    const { m, fn, data } = await fixture(arch);
    const host = m.addHostFunction('id', 1, ([n]) => n);
    const cases: Array<[string, bigint, bigint[]]> = [
      ['sum, 0 words', fn.sum, [data.address, 0n]],
      ['sum, 3 words', fn.sum, [data.address, 3n]],
      ['one host call', fn.callHost1, [host, 5n]],
      ['four host calls', fn.loopHost, [host, 4n]],
    ];
    for (const [what, entry, args] of cases) {
      const expected = m.call(entry, args, { budget: null });
      const used = m.instructionsExecuted();
      t.is(m.call(entry, args, { budget: used }), expected, `${what}: a budget of ${used}`);
      t.is(m.instructionsExecuted(), used, `${what}: the same count under the budget`);
      const e = expectTrap(t, () => m.call(entry, args, { budget: used - 1n }), 'budget-exhausted');
      t.true(e.instructions !== undefined && e.instructions <= used - 1n, `${what}: ${e.instructions} within a budget of ${used - 1n}`);
    }
  });

  test.serial(`${arch}: runaway recursion hits the stack guard`, async (t) => {
    const { m, fn } = await fixture(arch);
    const e = expectTrap(t, () => m.call(fn.recurse), 'stack-guard');
    t.true(e.address! < m.stack.region.address && e.address! >= m.stack.guardBase);
    t.true(e.pc >= fn.recurse && e.pc < fn.recurse + 32n);
  });

  test.serial(`${arch}: halting instruction is a trap`, async (t) => {
    const { m, fn } = await fixture(arch);
    const e = t.throws(() => m.call(fn.halt), { instanceOf: GuestTrap }) as GuestTrap;
    t.true(['halt', 'cpu-exception', 'invalid-instruction'].includes(e.kind), e.kind);
    t.is(e.pc, fn.halt);
  });

  test.serial(`${arch}: regions refuse writable+executable and overlaps`, async (t) => {
    const { m, text } = await fixture(arch);
    t.throws(() => m.map('wx', 4096, PROT_READ | PROT_WRITE | PROT_EXEC), { instanceOf: MachineError });
    t.throws(() => m.map('overlap', 4096, PROT_READ, text.address), { instanceOf: MachineError });
    t.throws(() => m.protect(text, PROT_READ | PROT_WRITE | PROT_EXEC), { instanceOf: MachineError });
    t.throws(() => m.readU64(0x8n), { instanceOf: MachineError });
    t.throws(() => m.reg('nope'), { instanceOf: MachineError });
    const names = m.regs.intArgs.slice(0, 3);
    names.forEach((n, i) => m.setReg(n, BigInt(i + 7)));
    t.deepEqual(m.readRegisters(names), [7n, 8n, 9n]);
  });

  test.serial(`${arch}: backtrace follows the frame-pointer chain`, async (t) => {
    const { m, fn } = await fixture(arch);
    let frames: bigint[] = [];
    const host = m.addHostFunction('where', 1, (_args, call) => {
      frames = m.backtrace(call.returnAddress, call.fp).map((f) => f.pc);
      return 0;
    });
    m.call(fn.callHost1, [host, 5]);
    t.true(frames.length >= 1);
    t.true(frames[0] > fn.callHost1 && frames[0] < fn.callHost1 + 64n);
  });

  test.serial(`${arch}: random straight-line arithmetic matches TypeScript`, async (t) => {
    const { m } = await fixture(arch);
    const code = m.map(`prop-${arch}`, 1 << 20, PROT_READ | PROT_EXEC);
    const mask = (1n << 64n) - 1n;
    const ops = ['add', 'sub', 'xor', 'and', 'or', 'mul', 'shl'] as const;
    const op = fc.record({ kind: fc.constantFrom(...ops), dst: fc.integer({ min: 0, max: 3 }), src: fc.integer({ min: 0, max: 3 }), sh: fc.integer({ min: 0, max: 63 }) });
    const programs = fc.sample(fc.record({ init: fc.array(fc.bigInt({ min: 0n, max: mask }), { minLength: 4, maxLength: 4 }), ops: fc.array(op, { minLength: 1, maxLength: 30 }) }), { numRuns: 150, seed: 42 });
    const xr = ['rax', 'rcx', 'rdx', 'rsi'];
    const ar = ['x0', 'x1', 'x2', 'x3'];
    const render = (p: (typeof programs)[number]): string => p.ops.map((o) => {
      if (arch === 'x64') {
        const d = xr[o.dst], s = xr[o.src];
        switch (o.kind) {
          case 'mul': return `imul ${d}, ${s}`;
          case 'shl': return `shl ${d}, ${o.sh}`;
          default: return `${o.kind} ${d}, ${s}`;
        }
      }
      const d = ar[o.dst], s = ar[o.src];
      const name = { add: 'add', sub: 'sub', xor: 'eor', and: 'and', or: 'orr', mul: 'mul', shl: 'lsl' }[o.kind];
      return o.kind === 'shl' ? `lsl ${d}, ${d}, #${o.sh}` : `${name} ${d}, ${d}, ${s}`;
    }).join('\n') + (arch === 'x64' ? '\nmov [rdi], rax\nmov [rdi+8], rcx\nmov [rdi+16], rdx\nmov [rdi+24], rsi\nret'
      : '\nstr x0, [x4]\nstr x1, [x4, #8]\nstr x2, [x4, #16]\nstr x3, [x4, #24]\nret');
    const blobs = assembleMany(arch, programs.map(render));
    const { data } = await fixture(arch);
    programs.forEach((p, i) => {
      const at = code.address + BigInt(i * 1024);
      m.writeBytes(at, blobs[i]);
      const r = [...p.init];
      for (const o of p.ops) {
        const a = r[o.dst], b = r[o.src];
        r[o.dst] = {
          add: a + b, sub: a - b, xor: a ^ b, and: a & b, or: a | b, mul: a * b, shl: a << BigInt(o.sh),
        }[o.kind] & mask;
      }
      // x64: values in rax, rcx, rdx, rsi; output pointer in rdi. AArch64: x0..x3, pointer in x4.
      const args = arch === 'x64' ? [data.address, p.init[3], p.init[2], p.init[1]] : [p.init[0], p.init[1], p.init[2], p.init[3], data.address];
      if (arch === 'x64') {
        m.setReg('rax', p.init[0]);
        m.setReg('rcx', p.init[1]);
      }
      // Machine.call sets argument registers; for x64 rdx/rsi come from args 3 and 2, rax/rcx preset:
      // rcx is argument 4, so pass it explicitly.
      const x64Args = [data.address, p.init[3], p.init[2], p.init[1]];
      m.call(at, arch === 'x64' ? x64Args : args);
      const got = [0, 1, 2, 3].map((k) => m.readU64(data.address + BigInt(8 * k)));
      if (arch === 'x64') {
        // rax was preset before the call and is not an argument register.
        t.deepEqual(got, r, render(p));
      } else {
        t.deepEqual(got, r, render(p));
      }
    });
  });
}

test.after.always(() => {
  for (const f of fixtures.values()) f.m.close();
});

for (const arch of ARCHES) {
  test(`${arch}: random bytes as code end in a result or a typed trap, and a data fault's PC is an instruction that was fetched`, async (t) => {
    // The native helper restores fault PCs from the native stack, marks pages dirty on the
    // store path and contains Unicorn's aborts; random code exercises all three.
    const open = async () => {
      const m = await Machine.create({ arch, budget: 20_000n, timeoutMs: 2_000 });
      return { m, text: m.map('fuzz-text', 0x1000, PROT_READ | PROT_EXEC), data: m.map('fuzz-data', 0x4000, PROT_READ | PROT_WRITE) };
    };
    let current = await open();
    const pointers = fc.oneof(
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      fc.bigInt({ min: current.data.address, max: current.data.address + 0x4000n - 16n }),
      fc.bigInt({ min: current.text.address, max: current.text.address + 0x1000n - 16n }),
    );
    const kinds = new Map<string, number>();
    let aborts = 0;
    try {
      await fc.assert(fc.asyncProperty(fc.uint8Array({ minLength: 4, maxLength: 96 }), fc.array(pointers, { minLength: 6, maxLength: 6 }), async (code, args) => {
        const { m, text } = current;
        m.writeBytes(text.address, new Uint8Array(0x1000));
        m.writeBytes(text.address, code);
        try {
          m.call(text.address, args);
          kinds.set('returned', (kinds.get('returned') ?? 0) + 1);
          return true;
        } catch (e) {
          if (!(e instanceof GuestTrap)) return false;
          const aborted = /Unicorn 2\.0\.1 aborted/.test(e.engineMessage ?? '');
          kinds.set(aborted ? 'unicorn-aborted' : e.kind, (kinds.get(aborted ? 'unicorn-aborted' : e.kind) ?? 0) + 1);
          if (e.kind === 'read-unmapped' || e.kind === 'write-unmapped' || e.kind === 'write-protected' || e.kind === 'read-protected') {
            // A data access faulted: its PC is inside code that ran (the fuzz text, or the
            // gateway's return stub when the random code returned through a corrupt stack).
            const region = m.regionAt(e.pc);
            return region !== undefined && (region.perms & PROT_EXEC) !== 0;
          }
          return true;
        }
      }).afterEach(async () => {
        // An engine Unicorn aborted in runs nothing more: continue on a fresh machine.
        if ((kinds.get('unicorn-aborted') ?? 0) > aborts) {
          aborts = kinds.get('unicorn-aborted')!;
          current.m.close();
          current = await open();
        }
      }), { numRuns: 400, seed: arch === 'x64' ? 11 : 12 });
      t.log([...kinds].map(([k, n]) => `${k} ${n}`).join(', '));
      t.true((kinds.get('read-unmapped') ?? 0) + (kinds.get('write-unmapped') ?? 0) > 10, 'the fuzz reached data faults');
    } finally {
      current.m.close();
    }
  });
}

test('x64: code Unicorn 2.0.1 aborts on (lcall with a register operand) is a typed trap, not the end of the process', async (t) => {
  const m = await Machine.create({ arch: 'x64' });
  try {
    const text = m.map('text', 0x1000, PROT_READ | PROT_EXEC);
    m.writeBytes(text.address, Uint8Array.of(0x48, 0x31, 0xc0, 0xff, 0xdc, 0xc3)); // xor rax, rax; (ff dc); ret
    const e = expectTrap(t, () => m.call(text.address), 'invalid-instruction');
    t.regex(e.engineMessage ?? '', /Unicorn 2\.0\.1 aborted translating this code/);
    // The engine is done for; the next call says so the same way, and other machines still run.
    t.regex((t.throws(() => m.call(text.address), { instanceOf: GuestTrap }) as GuestTrap).engineMessage ?? '', /aborted/);
    const other = await Machine.create({ arch: 'x64' });
    const code = other.map('text', 0x1000, PROT_READ | PROT_EXEC);
    other.writeBytes(code.address, Uint8Array.of(0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3)); // mov eax, 42; ret
    t.is(other.call(code.address), 42n);
    other.close();
  } finally {
    m.close();
  }
});
