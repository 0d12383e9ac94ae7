/**
 * `stackscope run OBJ.o... [LIB.a...] --entry NAME`: parse the typed arguments, then only call
 * the sandbox API (sandbox/): load, copy buffers in, call, read buffers back, print.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { hex } from '../../isa/error.ts';
import { readElf } from '../../loader/elf.ts';
import {
  Sandbox, parseSignature, selectObjects, signatureText, typeText, SignatureError,
  type CValue, type HostFunctionSpec, type ScalarType, type Signature, type SyscallPolicy,
} from '../../sandbox/index.ts';
import { GuestTrap } from '../../simulator/trap.ts';
import { UsageError, parseInteger, type ParsedArgs } from '../args.ts';
import type { Output } from '../output.ts';
import { cycleReportJson, cycleReportText, runLimits, cycleFlags, checkUarchArch, parseArchFlag, traceFlags } from './run-options.ts';
import { Tracer, renderTrace, traceToJson } from '../../viewer/trace.ts';

const SCALARS = ['i8', 'i16', 'i32', 'i64', 'u8', 'u16', 'u32', 'u64', 'f32', 'f64', 'ptr'];

/** One `--arg`: a scalar, or bytes the sandbox copies into guest memory (a pointer is passed). */
type ArgSpec =
  | { kind: 'scalar'; type: ScalarType | undefined; text: string }
  | { kind: 'str' | 'buf' | 'out'; bytes: Uint8Array; text: string };

/** Takes every `--arg X` / `--arg=X` out of argv (the flag repeats; the parser keeps one value). */
export function takeRepeated(argv: readonly string[], name: string, command: string): { rest: string[]; values: string[] } {
  const rest: string[] = [];
  const values: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === `--${name}`) {
      if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value`, command);
      values.push(argv[++i]);
    } else if (a.startsWith(`--${name}=`)) values.push(a.slice(name.length + 3));
    else rest.push(a);
  }
  return { rest, values };
}

function parseHexBytes(text: string, what: string): Uint8Array {
  const clean = text.replace(/[\s_]/g, '');
  if (clean.length % 2 !== 0 || !/^[0-9a-f]*$/i.test(clean)) throw new UsageError(`${what}: '${text}' is not hex bytes`, 'run');
  return Uint8Array.from(clean.match(/../g) ?? [], (b) => parseInt(b, 16));
}

/** `TYPE:VALUE` (or a bare VALUE, typed by --sig or i64). */
export function parseArgSpec(text: string, index: number): ArgSpec {
  const what = `--arg ${index + 1}`;
  const colon = text.indexOf(':');
  const type = colon > 0 ? text.slice(0, colon) : undefined;
  const value = colon > 0 ? text.slice(colon + 1) : text;
  if (type === undefined || /^-?\d/.test(text)) return { kind: 'scalar', type: undefined, text };
  if (type === 'str') return { kind: 'str', bytes: new TextEncoder().encode(value), text };
  if (type === 'buf') {
    if (value.startsWith('@')) {
      const path = value.slice(1);
      if (!existsSync(path)) throw new UsageError(`${what}: cannot read ${path}`, 'run');
      return { kind: 'buf', bytes: new Uint8Array(readFileSync(path)), text };
    }
    if (value.startsWith('hex:')) return { kind: 'buf', bytes: parseHexBytes(value.slice(4), what), text };
    throw new UsageError(`${what}: buf takes @FILE or hex:BYTES (got '${value}')`, 'run');
  }
  if (type === 'out') {
    const n = Number(parseInteger(value, what, 'run'));
    if (!Number.isSafeInteger(n) || n < 0 || n > 1 << 26) throw new UsageError(`${what}: out:N takes 0 to ${1 << 26} bytes (got '${value}')`, 'run');
    return { kind: 'out', bytes: new Uint8Array(n), text };
  }
  if (!SCALARS.includes(type)) throw new UsageError(`${what}: unknown type '${type}' (${SCALARS.join(' ')} str buf out)`, 'run');
  return { kind: 'scalar', type: type as ScalarType, text: value };
}

function scalarValue(type: ScalarType, text: string, what: string): CValue {
  if (type === 'f32' || type === 'f64') {
    const v = Number(text);
    if (text.trim() === '' || Number.isNaN(v) && !/^[-+]?nan$/i.test(text.trim())) throw new UsageError(`${what}: '${text}' is not a number`, 'run');
    return v;
  }
  const t = text.trim();
  if (!/^-?(0x[0-9a-f]+|[0-9]+)$/i.test(t)) throw new UsageError(`${what}: '${text}' is not an integer`, 'run');
  const v = t.startsWith('-') ? -BigInt(t.slice(1)) : BigInt(t);
  const bits = type === 'ptr' ? 64 : Number(type.slice(1));
  const lo = type[0] === 'i' ? -(1n << BigInt(bits - 1)) : -(1n << BigInt(bits - 1));
  const hi = type[0] === 'i' ? (1n << BigInt(bits - 1)) - 1n : (1n << BigInt(bits)) - 1n;
  if (v < lo || v > hi) throw new UsageError(`${what}: ${text} does not fit ${type}`, 'run');
  return bits <= 32 ? Number(v) : v;
}

/** Imports a --host module: its default export (or `host`) maps names to {sig, fn}. */
async function loadHostModule(path: string): Promise<Record<string, HostFunctionSpec>> {
  let mod: { default?: unknown; host?: unknown };
  try {
    mod = (await import(pathToFileURL(resolvePath(path)).href)) as typeof mod;
  } catch (e) {
    throw new UsageError(`--host ${path}: cannot import it (${(e as Error).message.split('\n')[0]})`, 'run');
  }
  const table = (mod.default ?? mod.host) as Record<string, HostFunctionSpec> | undefined;
  if (!table || typeof table !== 'object') throw new UsageError(`--host ${path}: export default { name: { sig, fn } } (or export const host)`, 'run');
  for (const [name, spec] of Object.entries(table)) {
    if (!spec || (typeof spec.sig !== 'string' && typeof spec.sig !== 'object') || typeof spec.fn !== 'function') {
      throw new UsageError(`--host ${path}: ${name} must be { sig: 'i64(i64)', fn(args, ctx) }`, 'run');
    }
  }
  return table;
}

function valueText(v: CValue | undefined): string {
  if (v === undefined) return '(none)';
  if (Array.isArray(v)) return `{${v.map((x) => valueText(x)).join(', ')}}`;
  return String(v);
}

function valueJson(v: CValue | undefined): unknown {
  if (v === undefined) return null;
  if (Array.isArray(v)) return v.map(valueJson);
  if (typeof v === 'bigint') return v.toString();
  return Number.isFinite(v) ? v : String(v);
}

/** Runs ELF objects and archives through the sandbox (see RUN_HELP). */
export async function runNative(args: ParsedArgs, argTexts: readonly string[], inputs: Array<{ file: string; bytes: Uint8Array }>, out: Output): Promise<number> {
  for (const flag of ['invoke', 'gc-explain']) {
    if (args.flags.has(flag)) throw new UsageError(`--${flag} applies to Wasm modules (.wat, .wasm, compiled .o images), not to ELF objects`, 'run');
  }
  const entry = args.flags.get('entry');
  if (typeof entry !== 'string' || entry === '') throw new UsageError('--entry NAME is required for ELF objects (Wasm modules take --invoke)', 'run');
  const legacy = args.flags.get('args');
  if (typeof legacy === 'string' && argTexts.length > 0) throw new UsageError('give either --args a,b,c or --arg TYPE:VALUE ..., not both', 'run');
  const specs = typeof legacy === 'string' && legacy.trim() !== ''
    ? legacy.split(',').map((a, i): ArgSpec => ({ kind: 'scalar', type: undefined, text: a.trim() || `<empty item ${i + 1}>` }))
    : argTexts.map((a, i) => parseArgSpec(a, i));
  const sigText = args.flags.get('sig');
  let sig: Signature;
  try {
    sig = typeof sigText === 'string' ? parseSignature(sigText) : { result: 'i64', params: specs.map((s) => (s.kind === 'scalar' ? s.type ?? 'i64' : 'ptr')) };
  } catch (e) {
    if (e instanceof SignatureError) throw new UsageError(`--sig: ${e.message}`, 'run');
    throw e;
  }
  if (sig.params.length !== specs.length) throw new UsageError(`--sig ${signatureText(sig)} takes ${sig.params.length} argument(s), ${specs.length} given`, 'run');
  sig.params.forEach((p, i) => {
    const s = specs[i];
    if (typeof p !== 'string') throw new UsageError(`--sig: struct parameters cannot be given on the command line (parameter ${i + 1}); use the API`, 'run');
    if (s.kind !== 'scalar' && p !== 'ptr') throw new UsageError(`--arg ${i + 1} (${s.kind}) passes a pointer; --sig says ${p}`, 'run');
    if (s.kind === 'scalar' && s.type !== undefined && s.type !== p) throw new UsageError(`--arg ${i + 1} is ${s.type}; --sig says ${p}`, 'run');
  });
  const syscallsFlag = args.flags.get('syscalls');
  if (syscallsFlag !== undefined && syscallsFlag !== 'deny' && syscallsFlag !== 'linux-min') throw new UsageError(`--syscalls takes deny or linux-min (got '${String(syscallsFlag)}')`, 'run');
  const hostPath = args.flags.get('host');
  const host = typeof hostPath === 'string' ? await loadHostModule(hostPath) : {};
  const { budget, timeoutMs } = runLimits(args);
  const cycles = cycleFlags(args);
  const trace = traceFlags(args);
  const json = args.flags.has('json');

  const objects = selectObjects(inputs);
  const arch = objects.length ? readElf(objects[0].bytes, objects[0].file).arch : undefined;
  const archFlag = args.flags.get('arch');
  if (arch && typeof archFlag === 'string' && parseArchFlag(archFlag) !== arch) throw new UsageError(`--arch ${archFlag}: the objects are ${arch}`, 'run');
  if (arch) checkUarchArch(cycles, arch, 'the objects are');
  let sandbox: Sandbox;
  try {
    sandbox = await Sandbox.load(inputs, { host, syscalls: (syscallsFlag as SyscallPolicy | undefined) ?? 'deny', budget, timeoutMs, ...(cycles ? { cycles } : {}) });
  } catch (e) {
    if (e instanceof SignatureError) throw new UsageError(`--host: ${e.message}`, 'run');
    throw e;
  }
  try {
    const buffers: Array<{ arg: number; kind: string; address: bigint; size: number }> = [];
    const values: CValue[] = specs.map((s, i) => {
      if (s.kind === 'scalar') return scalarValue(sig.params[i] as ScalarType, s.text, `--arg ${i + 1}`);
      const bytes = s.kind === 'str' ? Uint8Array.of(...s.bytes, 0) : s.bytes;
      const address = sandbox.allocateBytes(bytes);
      buffers.push({ arg: i, kind: s.kind, address, size: bytes.length });
      return address;
    });
    sandbox.address(entry); // an unknown name is an input error before anything runs
    const machine = sandbox.machine;
    const tracer = trace ? new Tracer(machine, { mode: trace.mode, limit: trace.limit, safepoints: [], namer: () => undefined }) : undefined;
    const finish = () => {
      tracer?.close();
      if (tracer && !json) for (const line of renderTrace(tracer)) out.text(line);
    };
    const typed = typeof sigText === 'string';
    const bufferJson = () => buffers.map((b) => ({ arg: b.arg + 1, kind: b.kind, address: hex(b.address), size: b.size, hex: Buffer.from(machine.readBytes(b.address, b.size)).toString('hex') }));
    const printOutputs = () => {
      for (const b of buffers) if (b.kind === 'out') out.text(`out (--arg ${b.arg + 1}, ${b.size} bytes): ${Buffer.from(machine.readBytes(b.address, b.size)).toString('hex')}`);
    };
    const lines = (text: string) => (text === '' ? [] : text.replace(/\n$/, '').split('\n'));
    try {
      const r = sandbox.call(entry, sig, values);
      const report = machine.cycleReport();
      finish();
      const raw = typeof r.value === 'bigint' ? r.value : undefined;
      if (json) {
        const intResult = !typed && raw !== undefined;
        out.json({
          entry, signature: signatureText(sig), type: typeText(sig.result),
          result: r.exit !== undefined ? null : intResult ? BigInt.asUintN(64, raw!).toString() : valueText(r.value),
          signed: r.exit !== undefined ? null : intResult ? BigInt.asIntN(64, raw!).toString() : typeof r.value === 'number' || typeof r.value === 'bigint' ? String(r.value) : null,
          value: valueJson(r.value), exit: r.exit ?? null,
          instructions: Number(r.instructions), trap: null, output: lines(r.stdout), stdout: r.stdout, buffers: bufferJson(),
          ...(report ? { cycles: cycleReportJson(report) } : {}),
          ...(tracer ? { trace: traceToJson(tracer) } : {}),
        });
      } else {
        for (const l of lines(r.stdout)) out.text(l);
        if (r.exit !== undefined) out.text(`exit: ${r.exit}`);
        else if (!typed && raw !== undefined) out.text(`result: ${BigInt.asUintN(64, raw)} (signed ${BigInt.asIntN(64, raw)}, ${hex(BigInt.asUintN(64, raw))})`);
        else out.text(`result: ${valueText(r.value)} (${typeText(sig.result)})`);
        printOutputs();
        out.text(`instructions: ${r.instructions}`);
        if (report) for (const line of cycleReportText(report)) out.text(line);
      }
      return 0;
    } catch (e) {
      if (!(e instanceof GuestTrap)) throw e;
      const report = machine.cycleReport();
      finish();
      const stdout = new TextDecoder().decode(sandbox.output);
      if (json) {
        out.json({
          entry, signature: signatureText(sig), type: typeText(sig.result), result: null, signed: null, value: null, exit: null,
          instructions: Number(e.instructions ?? 0n), trap: e.toJSON(), output: lines(stdout), stdout, buffers: bufferJson(),
          ...(report ? { cycles: cycleReportJson(report) } : {}),
          ...(tracer ? { trace: traceToJson(tracer) } : {}),
        });
      } else {
        for (const l of lines(stdout)) out.text(l);
        out.text(`trap: ${e.kind} at ${hex(e.pc)}${e.instruction ? `: ${e.instruction}` : ''}`);
        out.text(`  ${e.message}`);
        if (e.address !== undefined) out.text(`  address: ${hex(e.address)}`);
        if (e.syscall !== undefined) out.text(`  syscall: ${e.syscall}`);
        out.text(`instructions: ${e.instructions ?? 0n}`);
        out.text('backtrace:');
        e.backtrace.forEach((f, i) => out.text(`  #${i} ${hex(f.pc)}${f.symbol ? ` ${f.symbol}` : ''}${f.method ? ` [${f.method}]` : ''}`));
        if (report) for (const line of cycleReportText(report)) out.text(line);
      }
      return 1;
    }
  } finally {
    sandbox.close();
  }
}
