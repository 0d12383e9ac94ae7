import test from 'ava';
import { ARCHES, type Arch } from '../isa/arch.ts';
import { PROT_EXEC, PROT_READ } from './engine.ts';
import { Machine } from './machine.ts';
import { GuestTrap, type TrapKind } from './trap.ts';
import { assembleMany } from './testing/asm.ts';

/** Each case: code, the trap kind expected, and the offset of the trapping instruction. */
interface Case { code: string; kind: TrapKind; at: number; syscall?: bigint }

const CASES: Record<Arch, Record<string, Case>> = {
  x64: {
    syscall: { code: 'mov eax, 60\nnop\nsyscall\nret', kind: 'syscall', at: 6, syscall: 60n },
    sysenter: { code: 'mov eax, 1\nsysenter\nret', kind: 'syscall', at: 5, syscall: 1n },
    int80: { code: 'mov eax, 4\nint 0x80\nret', kind: 'syscall', at: 5, syscall: 4n },
    cli: { code: 'nop\ncli\nret', kind: 'privileged-instruction', at: 1 },
    in: { code: 'nop\nin al, dx\nret', kind: 'privileged-instruction', at: 1 },
    out: { code: 'nop\nout dx, al\nret', kind: 'privileged-instruction', at: 1 },
    wrmsr: { code: 'nop\nwrmsr\nret', kind: 'privileged-instruction', at: 1 },
    movcr0: { code: 'nop\nmov cr0, rax\nret', kind: 'privileged-instruction', at: 1 },
    movcr3: { code: 'nop\nmov rax, cr3\nret', kind: 'privileged-instruction', at: 1 },
    lidt: { code: 'nop\nlidt [rsp]\nret', kind: 'privileged-instruction', at: 1 },
    int21: { code: 'nop\nint 0x21\nret', kind: 'privileged-instruction', at: 1 },
    into: { code: 'nop\n.byte 0xce\nret', kind: 'invalid-instruction', at: 1 }, // invalid in 64-bit mode
    hlt: { code: 'nop\nhlt\nret', kind: 'halt', at: 1 },
    jumpZero: { code: 'xor eax, eax\njmp rax', kind: 'fetch-unmapped', at: -1 },
  },
  aarch64: {
    svc: { code: 'mov x8, #93\nsvc #0\nret', kind: 'syscall', at: 4, syscall: 93n },
    smc: { code: 'nop\nsmc #0\nret', kind: 'privileged-instruction', at: 4 },
    hvc: { code: 'nop\nhvc #0\nret', kind: 'privileged-instruction', at: 4 },
    eret: { code: 'nop\neret', kind: 'privileged-instruction', at: 4 },
    wfi: { code: 'nop\nwfi\nret', kind: 'halt', at: 4 },
    daifset: { code: 'nop\nmsr daifset, #2\nret', kind: 'privileged-instruction', at: 4 },
    vbar: { code: 'nop\nmsr vbar_el1, x0\nret', kind: 'privileged-instruction', at: 4 },
    sctlr: { code: 'nop\nmrs x0, sctlr_el1\nret', kind: 'privileged-instruction', at: 4 },
    tlbi: { code: 'nop\ntlbi vmalle1\nret', kind: 'privileged-instruction', at: 4 },
    spAlign: { code: 'sub sp, sp, #8\nnop\nstr x0, [sp]\nadd sp, sp, #8\nret', kind: 'sp-alignment', at: 8 },
    jumpZero: { code: 'mov x0, #0\nbr x0', kind: 'fetch-unmapped', at: -1 },
  },
};

async function setUp(arch: Arch, snippets: string[]) {
  const m = await Machine.create({ arch });
  const text = m.map('text', 0x10000, PROT_READ | PROT_EXEC);
  const bytes = assembleMany(arch, snippets);
  const addresses = bytes.map((b, i) => {
    const a = text.address + BigInt(i * 0x200);
    m.writeBytes(a, b);
    return a;
  });
  return { m, addresses };
}

for (const arch of ARCHES) {
  test(`${arch}: system and privileged instructions trap at their exact PC with a typed kind`, async (t) => {
    const names = Object.keys(CASES[arch]);
    const { m, addresses } = await setUp(arch, names.map((n) => CASES[arch][n].code));
    try {
      names.forEach((name, i) => {
        const c = CASES[arch][name];
        const e = t.throws(() => m.call(addresses[i]), { instanceOf: GuestTrap }, name) as GuestTrap;
        t.is(e.kind, c.kind, name);
        if (c.at >= 0) t.is(e.pc, addresses[i] + BigInt(c.at), `${name}: ${e.message}`);
        if (c.syscall !== undefined) t.is(e.syscall, c.syscall, name);
        if (c.kind === 'fetch-unmapped') {
          // A jump to 0 is a fetch fault at 0, with the jumping instruction as the next frame.
          t.is(e.pc, 0n, name);
          t.is(e.address, 0n, name);
          t.is(e.backtrace[1]?.method, 'branch', name);
          t.is(e.backtrace[1]?.pc, addresses[i] + (arch === 'x64' ? 2n : 4n), name);
        }
      });
    } finally {
      m.close();
    }
  });

  test(`${arch}: with neither budget nor timeout, system instructions still trap and instructions are counted`, async (t) => {
    const m = await Machine.create({ arch, budget: null, timeoutMs: null });
    try {
      const text = m.map('text', 0x1000, PROT_READ | PROT_EXEC);
      const c = CASES[arch][arch === 'x64' ? 'syscall' : 'svc'];
      const [sys, plain] = assembleMany(arch, [c.code, arch === 'x64' ? 'mov eax, 1\nadd eax, 2\nret' : 'mov x0, #1\nadd x0, x0, #2\nret']);
      m.writeBytes(text.address, sys);
      m.writeBytes(text.address + 0x200n, plain);
      const e = t.throws(() => m.call(text.address), { instanceOf: GuestTrap }) as GuestTrap;
      t.is(e.kind, 'syscall');
      t.is(e.pc, text.address + BigInt(c.at));
      t.is(m.call(text.address + 0x200n), 3n);
      t.is(m.instructionsExecuted(), 3n);
    } finally {
      m.close();
    }
  });

  test(`${arch}: a syscall handler emulates calls and the guest continues after the instruction`, async (t) => {
    const code = arch === 'x64' ? 'mov eax, 39\nsyscall\nadd rax, 1\nret' : 'mov x8, #172\nsvc #0\nadd x0, x0, #1\nret';
    const { m, addresses } = await setUp(arch, [code]);
    try {
      const seen: bigint[] = [];
      m.setSyscallHandler((r) => {
        seen.push(r.number, r.pc);
        return 41;
      });
      t.is(m.call(addresses[0]), 42n);
      t.deepEqual(seen, [arch === 'x64' ? 39n : 172n, addresses[0] + (arch === 'x64' ? 5n : 4n)]);
      m.setSyscallHandler(() => undefined);
      t.is((t.throws(() => m.call(addresses[0])) as GuestTrap).kind, 'syscall');
    } finally {
      m.close();
    }
  });

  test(`${arch}: the cycle counter reads a virtual clock that replays exactly`, async (t) => {
    const code = arch === 'x64'
      ? 'rdtsc\nshl rdx, 32\nor rax, rdx\nmov rcx, rax\nnop\nnop\nrdtsc\nshl rdx, 32\nor rax, rdx\nsub rax, rcx\nret'
      : 'mrs x1, cntvct_el0\nnop\nnop\nmrs x0, cntvct_el0\nsub x0, x0, x1\nret';
    const read = async () => {
      const { m, addresses } = await setUp(arch, [code]);
      try {
        return [m.call(addresses[0]), m.call(addresses[0])];
      } finally {
        m.close();
      }
    };
    const first = await read();
    t.deepEqual(first, await read());
    t.is(first[0], arch === 'x64' ? 6n : 3n); // instructions between the two reads
  });
}

test('aarch64: an unaligned SP traps at the first load or store through it, in whichever block that is', async (t) => {
  const traps: Record<string, { code: string; at: number }> = {
    acrossBranch: { code: 'sub sp, sp, #8\nb 1f\n1: str x0, [sp]\nadd sp, sp, #8\nret', at: 8 },
    inCallee: { code: 'mov x9, x30\nsub sp, sp, #8\nbl 1f\nadd sp, sp, #8\nmov x30, x9\nret\n1: nop\nstr x0, [sp]\nret', at: 28 },
    writeback: { code: 'str x0, [sp, #-8]!\nb 1f\n1: ldr x1, [sp]\nadd sp, sp, #8\nret', at: 8 },
    pairWriteback: { code: 'stp w0, w1, [sp, #-8]!\nb 1f\n1: ldr x1, [sp, #8]\nadd sp, sp, #8\nret', at: 8 },
    fromRegister: { code: 'mov x1, sp\nsub x1, x1, #4\nmov sp, x1\nb 1f\n1: ldp x2, x3, [sp]\nadd sp, sp, #4\nret', at: 16 },
  };
  // Unaligned for a while, with no access through SP, then aligned again across blocks.
  const realigned = 'sub sp, sp, #8\nb 1f\n1: sub sp, sp, #8\nstr x0, [sp]\nadd sp, sp, #16\nmov x0, #7\nret';
  const names = Object.keys(traps);
  const { m, addresses } = await setUp('aarch64', [...names.map((n) => traps[n].code), realigned]);
  try {
    const fine = addresses[names.length];
    const before = m.instructionsExecuted();
    t.is(m.call(fine), 7n);
    t.is(m.instructionsExecuted() - before, 7n, 'stops to turn the checks on and off are not counted as instructions');
    names.forEach((name, i) => {
      const e = t.throws(() => m.call(addresses[i]), { instanceOf: GuestTrap }, name) as GuestTrap;
      t.is(e.kind, 'sp-alignment', `${name}: ${e.message}`);
      t.is(e.pc, addresses[i] + BigInt(traps[name].at), name);
      // The next call starts with an aligned SP: no check is left on.
      t.is(m.call(fine), 7n, `after ${name}`);
    });
  } finally {
    m.close();
  }
});
