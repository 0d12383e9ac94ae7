/**
 * Runs parser.c's object in the sandbox: `node --import tsx examples/sandbox-c/run.ts [x64|aarch64]`
 * (uses the committed parser.<arch>.o). Prints what examples/sandbox-c/expected.<arch>.txt holds.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { GuestTrap, Sandbox, type Arch, type HostFunctionSpec } from '../../index.ts';

export async function runSandboxExample(arch: Arch, object: { file: string; bytes: Uint8Array }): Promise<string> {
  const lines: string[] = [];
  const records: string[] = [];
  const host: Record<string, HostFunctionSpec> = {
    // The host callback: the key pointer and length are checked against guest memory.
    on_record: {
      sig: 'void(ptr,u64,i64)',
      fn: ([key, len, value], ctx) => {
        const bytes = ctx.memory.read(ctx.call, key as bigint, len as bigint, 'on_record key');
        records.push(`${new TextDecoder().decode(bytes)} = ${value}`);
      },
    },
  };
  const sb = await Sandbox.load([object], { host });
  try {
    for (const text of ['name=1;age=36;', 'x=7;broken;', '']) {
      records.length = 0;
      const buf = sb.allocateBytes(new TextEncoder().encode(text));
      const r = sb.call('parse', 'i64(ptr,u64)', [buf, BigInt(text.length)]);
      lines.push(`parse(${JSON.stringify(text)}) = ${r.value}${records.length ? `: ${records.join(', ')}` : ''}`);
    }
    try {
      sb.call('report', 'i64()', []);
      lines.push('report() ran');
    } catch (e) {
      if (!(e instanceof GuestTrap)) throw e;
      lines.push(`report() trapped: ${e.kind} ${e.syscall} at ${e.backtrace[0]?.symbol?.replace(/\+.*/, '')} (${e.instruction})`);
    }
  } finally {
    sb.close();
  }
  const allowed = await Sandbox.load([object], { host, syscalls: 'linux-min' });
  try {
    const r = allowed.call('report', 'i64()', []);
    lines.push(`with --syscalls linux-min: report() = ${r.value}, printed ${JSON.stringify(r.stdout)}`);
  } finally {
    allowed.close();
  }
  return lines.join('\n') + '\n';
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arch = (process.argv[2] ?? 'x64') as Arch;
  const file = fileURLToPath(new URL(`parser.${arch}.o`, import.meta.url));
  process.stdout.write(await runSandboxExample(arch, { file, bytes: new Uint8Array(readFileSync(file)) }));
}
