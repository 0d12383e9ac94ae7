import { ARCHES, type Arch } from '../../isa/arch.ts';
import { createDisassembler } from '../../isa/disasm.ts';
import { hex } from '../../isa/error.ts';
import { PROT_EXEC, PROT_READ } from '../../simulator/engine.ts';
import { Machine } from '../../simulator/machine.ts';
import { GuestTrap } from '../../simulator/trap.ts';
import type { Output } from '../output.ts';

/**
 * The current demo (the foundation layer): on both arches, guest code and TypeScript call each
 * other recursively through the host gateway, then a guest fault surfaces as a typed trap with
 * its exact PC and a backtrace. The machine code was assembled with GNU as from the source
 * shown in the comments; `stackscope disasm` prints the same listing.
 */
const PROGRAMS: Record<Arch, { fact: string; load: string }> = {
  // fact(n, host): n <= 1 ? 1 : n * host(n - 1)   (host calls back into fact)
  // load(p): return 3 + *p                         (faults when p is unmapped)
  x64: {
    fact: '554889e55341544889fb4989f44883ff017707b801000000eb0b488d7bff41ffd4480fafc3415c5b5dc3',
    load: '554889e548c7c0010000004883c002488b0f4801c85dc3',
  },
  aarch64: {
    fact: 'fd7bbea9fd030091f35301a9f30300aaf40301aa1f0400f168000054200080d204000014600600d180023fd6007c139bf35341a9fd7bc2a8c0035fd6',
    load: 'fd7bbfa9fd030091210080d221080091020040f92000028bfd7bc1a8c0035fd6',
  },
};

export const DEMO_HELP = `usage: stackscope demo [--arch x64|aarch64]

Runs the current teaching demo on both arches (or one): guest code and TypeScript calling each
other recursively through the host gateway, and a guest fault reported as a typed trap.`;

export async function demoCommand(arches: readonly Arch[], out: Output): Promise<number> {
  for (const arch of arches.length ? arches : ARCHES) {
    out.text(`== ${arch} ==`);
    const m = await Machine.create({ arch });
    try {
      const text = m.map('text', 4096, PROT_READ | PROT_EXEC);
      const fact = text.address;
      const factBytes = Buffer.from(PROGRAMS[arch].fact, 'hex');
      const load = text.address + BigInt((factBytes.length + 15) & ~15);
      m.writeBytes(fact, factBytes);
      m.writeBytes(load, Buffer.from(PROGRAMS[arch].load, 'hex'));
      m.addSymbolizer((a) => (a >= fact && a < load ? `fact+${hex(a - fact)}` : a >= load && a < load + 64n ? `load+${hex(a - load)}` : undefined));
      out.text('fact(n, host) in guest code:');
      for (const i of createDisassembler(arch).disasm(factBytes, fact)) out.text(`  ${hex(i.address)}  ${i.text}`);
      let trips = 0;
      let nesting = 0;
      const host: bigint = m.addHostFunction('host_fact', 1, ([n]) => {
        trips++;
        const level = ++nesting;
        const r = m.call(fact, [n, host]);
        nesting--;
        out.text(`  host_fact(${n}) = ${r}   (nesting level ${level}, guest sp ${hex(m.sp())})`);
        return r;
      });
      const result = m.call(fact, [10, host]);
      out.text(`fact(10) = ${result} after ${trips} guest→host→guest round trips`);
      try {
        m.call(load, [0x40]);
      } catch (e) {
        if (!(e instanceof GuestTrap)) throw e;
        out.text(`load(0x40) trapped: ${e.kind} at ${hex(e.pc)} (${e.instruction}), address ${hex(e.address ?? 0n)}`);
        for (const f of e.backtrace) out.text(`  at ${hex(f.pc)} ${f.symbol ?? ''}`);
      }
    } finally {
      m.close();
    }
  }
  return 0;
}
