import test from 'ava';
import { aarch64Core, describeHost, detectHost, parseCpuinfo, x86Core } from './host.ts';
import { PROT_EXEC, PROT_READ } from '../engine.ts';
import { Machine } from '../machine.ts';
import { HostUarchError, resolveUarch, UnknownUarchError } from './model.ts';

const ZEN5 = `processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 26
model\t\t: 2
model name\t: AMD EPYC 9B45
stepping\t: 1
`;

test('x86 CPUID family/model to core and table', (t) => {
  t.deepEqual(x86Core('AuthenticAMD', 0x1a, 0x02), { core: 'znver5', uarch: 'znver5', exact: true });
  t.deepEqual(x86Core('AuthenticAMD', 0x19, 0x11), { core: 'znver4', uarch: 'znver4', exact: true });
  t.deepEqual(x86Core('AuthenticAMD', 0x19, 0x61), { core: 'znver4', uarch: 'znver4', exact: true });
  t.deepEqual(x86Core('AuthenticAMD', 0x19, 0x01), { core: 'znver3', uarch: 'znver3', exact: true });
  t.deepEqual(x86Core('AuthenticAMD', 0x19, 0x21), { core: 'znver3', uarch: 'znver3', exact: true });
  t.deepEqual(x86Core('AuthenticAMD', 0x17, 0x31), { core: 'znver2', uarch: 'znver3', exact: false });
  t.deepEqual(x86Core('GenuineIntel', 6, 0x8f), { core: 'sapphirerapids', uarch: 'sapphirerapids', exact: true });
  t.is(x86Core('GenuineIntel', 6, 0x97).uarch, 'sapphirerapids');
  t.deepEqual(x86Core('GenuineIntel', 6, 0x55), { core: 'skylake', uarch: 'skylake', exact: true });
  t.is(x86Core('GenuineIntel', 6, 0x6a).uarch, 'skylake');
});

test('AArch64 MIDR implementer/part to core and table', (t) => {
  t.deepEqual(aarch64Core(0x41, 0xd0c), { core: 'neoverse-n1', uarch: 'neoverse-n1', exact: true });
  t.deepEqual(aarch64Core(0x41, 0xd4f), { core: 'neoverse-v2', uarch: 'neoverse-v2', exact: true });
  t.deepEqual(aarch64Core(0x41, 0xd41), { core: 'cortex-a78', uarch: 'neoverse-n1', exact: false });
  t.is(aarch64Core(0x41, 0xd08).uarch, 'cortex-a72');
  t.is(aarch64Core(0x42, 0x1).uarch, 'neoverse-n2');
});

test('/proc/cpuinfo of a Zen 5 host', (t) => {
  const h = parseCpuinfo(ZEN5, 'x64');
  t.like(h, { arch: 'x64', vendor: 'AuthenticAMD', family: 0x1a, model: 2, core: 'znver5', uarch: 'znver5', exact: true, modelName: 'AMD EPYC 9B45' });
  t.is(describeHost(h), 'AMD family 0x1a model 0x2 (znver5): znver5');
  const arm = parseCpuinfo('processor\t: 0\nCPU implementer\t: 0x41\nCPU part\t: 0xd0c\n', 'aarch64');
  t.like(arm, { core: 'neoverse-n1', uarch: 'neoverse-n1' });
  t.is(describeHost(arm), 'AArch64 implementer 0x41 part 0xd0c (neoverse-n1): neoverse-n1');
  t.like(parseCpuinfo('garbage', 'x64'), { vendor: 'unknown', uarch: undefined });
  t.is(describeHost(parseCpuinfo('', 'x64')), 'unknown host');
});

test('`host` resolves to this machine\'s table, and fails typed for the other arch', (t) => {
  const h = detectHost();
  if (h.uarch === undefined || h.arch === undefined) {
    t.throws(() => resolveUarch('host', 'x64'), { instanceOf: HostUarchError });
    return;
  }
  t.is(resolveUarch('host', h.arch), h.uarch);
  t.is(resolveUarch('HOST'), h.uarch);
  const other = h.arch === 'x64' ? 'aarch64' : 'x64';
  const e = t.throws(() => resolveUarch('host', other), { instanceOf: HostUarchError });
  t.regex(e!.message, new RegExp(`the code is ${other}`));
  t.throws(() => resolveUarch('pentium4'), { instanceOf: UnknownUarchError });
});

test('a Machine with uarch `host` prices with the host\'s table and reports the host', async (t) => {
  const h = detectHost();
  if (h.arch !== 'x64' && h.arch !== 'aarch64') return t.pass('no x64/aarch64 host');
  if (h.uarch === undefined) {
    await t.throwsAsync(() => Machine.create({ arch: h.arch!, cycles: { mode: 'fast', uarch: 'host' } }), { instanceOf: HostUarchError });
    return;
  }
  const m = await Machine.create({ arch: h.arch, cycles: { mode: 'fast', uarch: 'host' } });
  try {
    const text = m.map('text', 0x1000, PROT_READ | PROT_EXEC);
    m.writeBytes(text.address, h.arch === 'x64' ? Uint8Array.of(0x48, 0x01, 0xd8, 0xc3) : Uint8Array.of(0x00, 0x00, 0x01, 0x8b, 0xc0, 0x03, 0x5f, 0xd6));
    m.call(text.address);
    const r = m.cycleReport()!;
    t.is(r.uarch, h.uarch);
    t.deepEqual(r.host, { description: describeHost(h), core: h.core, uarch: h.uarch });
  } finally {
    m.close();
  }
  const other = h.arch === 'x64' ? 'aarch64' : 'x64';
  await t.throwsAsync(() => Machine.create({ arch: other, cycles: { mode: 'fast', uarch: 'host' } }), { instanceOf: HostUarchError });
});
