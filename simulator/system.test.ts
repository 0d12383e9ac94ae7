import test from 'ava';
import { ARCHES, type Arch } from '../isa/arch.ts';
import { PROT_EXEC, PROT_READ } from './engine.ts';
import { Machine } from './machine.ts';
import { PLACED_HOST, PLACED_START, placedCodeFlags } from './system.ts';
import { createDisassembler } from '../isa/disasm.ts';
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

// Code described at placement (Machine.describePlacedCode: the runtime's compiled code) is
// counted by the native counter without a stop per new block; what the sandbox must see still
// stops and is inspected, and every trap, PC and instruction count is what block-by-block
// inspection gives.
for (const arch of ARCHES) {
  test(`${arch}: code described at placement traps and counts exactly as code inspected block by block`, async (t) => {
    const cases = CASES[arch];
    const names = Object.keys(cases);
    const plainCode = arch === 'x64'
      ? 'mov ecx, 10\nxor eax, eax\n1: add eax, ecx\nlock add qword ptr [rsp - 8], 1\ndec ecx\njnz 1b\nret'
      : 'mov x1, #10\nmov x0, #0\n1: add x0, x0, x1\nstr x1, [sp, #-16]\nsubs x1, x1, #1\nb.ne 1b\nret';
    const outcome = async (placed: boolean) => {
      const m = await Machine.create({ arch });
      try {
        const snippets = assembleMany(arch, [...names.map((n) => cases[n].code), plainCode, 'ret']);
        const text = m.map('text', 0x10000, PROT_READ | PROT_EXEC);
        const image = new Uint8Array(snippets.length * 0x200);
        snippets.forEach((b, i) => image.set(b, i * 0x200));
        m.writeBytes(text.address, image);
        if (placed) m.describePlacedCode(text.address, image, snippets.map((b, i) => ({ offset: i * 0x200, size: b.length })));
        const engine = (m as unknown as { engine: { newBlockStops(): number } }).engine;
        const rows = names.map((name, i) => {
          const e = t.throws(() => m.call(text.address + BigInt(i * 0x200)), { instanceOf: GuestTrap }, name) as GuestTrap;
          return `${name} ${e.kind} ${e.pc - text.address} ${e.instructions}`;
        });
        m.call(text.address + BigInt((names.length + 1) * 0x200)); // the gateway's return stub, once
        const stops = engine.newBlockStops();
        rows.push(`plain ${m.call(text.address + BigInt(names.length * 0x200))} ${m.instructionsExecuted()}`);
        return { rows, plainStops: engine.newBlockStops() - stops };
      } finally {
        m.close();
      }
    };
    const inspected = await outcome(false);
    const described = await outcome(true);
    t.deepEqual(described.rows, inspected.rows);
    t.true(inspected.plainStops >= 3, `block by block: ${inspected.plainStops} stops`);
    t.is(described.plainStops, 0, 'no stop for the blocks of described code');
  });
}

test('aarch64: an unaligned SP traps at a load or store through it in described code', async (t) => {
  // The access sits in a block of its own, counted without inspection: its site comes from the
  // scan at placement.
  const code = 'sub sp, sp, #8\nb 1f\n1: str x0, [sp]\nadd sp, sp, #8\nret';
  const m = await Machine.create({ arch: 'aarch64' });
  try {
    const [bytes] = assembleMany('aarch64', [code]);
    const text = m.map('text', 0x1000, PROT_READ | PROT_EXEC);
    m.writeBytes(text.address, bytes);
    m.describePlacedCode(text.address, bytes, [{ offset: 0, size: bytes.length }]);
    const e = t.throws(() => m.call(text.address), { instanceOf: GuestTrap }) as GuestTrap;
    t.is(e.kind, 'sp-alignment');
    t.is(e.pc, text.address + 8n);
    // Rewritten code is inspected again, block by block.
    const [fine] = assembleMany('aarch64', ['mov x0, #5\nb 1f\n1: add x0, x0, #1\nret']);
    m.writeBytes(text.address, fine);
    t.is(m.call(text.address), 6n);
  } finally {
    m.close();
  }
});

test('x64: the placement scan measures lock-prefixed read-modify-writes as Capstone does', (t) => {
  const forms = [
    'lock add qword ptr [r10], 1', 'lock add qword ptr [r11], -1', 'lock add qword ptr [rax + 8], -1',
    'lock sub dword ptr [rbx], 1', 'lock add qword ptr [rsp + 16], rcx', 'lock sub qword ptr [rdi], rax',
    'lock xadd qword ptr [rsi], rax', 'lock cmpxchg qword ptr [rdx], rcx', 'lock add word ptr [rax], 1',
    'lock add dword ptr [rip + 0x100], 0x12345', 'lock add qword ptr [r12 + r13 * 8 + 0x40], 0x1000',
  ];
  const [code] = assembleMany('x64', [`${forms.join('\n')}\nret`]);
  const flags = placedCodeFlags('x64', code, [{ offset: 0, size: code.length }], createDisassembler('x64'));
  const starts = [...flags.keys()].filter((i) => flags[i] & PLACED_START);
  const capstone = createDisassembler('x64').disasm(code, 0n).map((insn) => Number(insn.address));
  t.deepEqual(starts, capstone);
  t.is(starts.length, forms.length + 1);
  t.false(flags.some((f) => (f & PLACED_HOST) !== 0));
});
