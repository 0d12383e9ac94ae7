/**
 * Generates the timing model's data at development time (never at run time or in tests):
 *
 *   node --import tsx scripts/gen-timing-tables.ts [--mca llvm-mca-22]
 *
 * Uses `llvm-mca-22` when installed (Debian 12: apt-get install llvm-22, a developer tool for
 * regeneration only — CI never runs this script), else `llvm-mca-16`, else `llvm-mca`. LLVM 14
 * accepts -mcpu=neoverse-n2 but schedules it with the Cortex-A57 model, and knows no znver4,
 * znver5, sapphirerapids or neoverse-v2; the committed data come from LLVM 22 (recorded in
 * each table). LLVM 22 schedules znver5 with its Znver4 model and cortex-a78 with the
 * Cortex-A57 one (so neoverse-n1, which has its own model, is the Cortex-A76-class table).
 *
 * 1. Per microarchitecture (UARCH_NAMES in simulator/timing/table.ts), every line of the
 *    instruction corpus (simulator/timing/testing/corpus.ts) is assembled with GNU as, decoded with
 *    Capstone and keyed with `parseForm` — the same key the model computes at run time — and
 *    put in its own llvm-mca region (`--json --instruction-tables`). From the JSON we keep
 *    latency, micro-ops, reciprocal throughput, load/store/side-effect flags, and the static
 *    per-unit resource pressure, which is decomposed into group demands using the groups in
 *    UARCH_SPECS. Lines that share a key but not their costs are reported (the key is then
 *    too coarse). Two chain probes, simulated at 100 and 200 iterations so the difference is
 *    the steady state, add per-operand latencies the JSON does not give: `ptrLat` for
 *    stack-pointer / writeback-base updates and `accLat` for multiply-accumulate addends.
 *    Written to simulator/timing/data/<uarch>.ts.
 * 2. The validation kernels (simulator/timing/testing/kernels.ts) are assembled to bytes and run
 *    through llvm-mca (-iterations=100 and 200); Total Cycles are the goldens. Written to
 *    simulator/timing/testing/kernel-goldens.ts (test data: not in the package).
 *
 * Deterministic: fixed corpus order, sorted keys, no timestamps; the llvm-mca version is
 * recorded. Lines an assembler or llvm-mca rejects are dropped and reported on stderr.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Arch } from '../isa/arch.ts';
import { instructionCorpus } from '../simulator/timing/testing/corpus.ts';
import { disassemble } from '../simulator/timing/disasm.ts';
import { registerEffects } from '../simulator/timing/effects.ts';
import { parseForm, type ParsedForm } from '../simulator/timing/forms.ts';
import { KERNELS } from '../simulator/timing/testing/kernels.ts';
import { UARCH_NAMES, UARCH_SPECS, type Demand, type FormEntry, type TableAdjustments, type UarchName, type UarchSpec, type UarchTableData } from '../simulator/timing/table.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DATA = join(ROOT, 'simulator/timing/data');
const ITERATIONS = 100;

const mcaArg = process.argv.indexOf('--mca');
const MCA = mcaArg >= 0 ? process.argv[mcaArg + 1] : pickMca();

function pickMca(): string {
  for (const candidate of ['llvm-mca-22', 'llvm-mca-16', 'llvm-mca']) {
    if (spawnSync(candidate, ['--version']).status === 0) return candidate;
  }
  throw new Error('no llvm-mca found');
}

const work = mkdtempSync(join(tmpdir(), 'gen-timing-'));

function assemblerFor(arch: Arch): { as: string; objcopy: string; header: string } {
  return arch === 'x64'
    ? { as: 'as', objcopy: 'objcopy', header: '.intel_syntax noprefix\n' }
    : { as: 'aarch64-linux-gnu-as', objcopy: 'aarch64-linux-gnu-objcopy', header: '' };
}

/** Assembles `source`; returns the .text bytes, or the 1-based source lines the assembler rejected. */
function assemble(arch: Arch, source: string): { bytes?: Uint8Array; badLines: number[]; stderr: string } {
  const { as, objcopy } = assemblerFor(arch);
  const src = join(work, 'in.s');
  const obj = join(work, 'in.o');
  const bin = join(work, 'in.bin');
  writeFileSync(src, source);
  const r = spawnSync(as, ['-o', obj, src], { encoding: 'utf8' });
  if (r.status !== 0) {
    const bad = [...r.stderr.matchAll(/in\.s:(\d+): Error/g)].map((m) => Number(m[1]));
    return { badLines: bad, stderr: r.stderr };
  }
  execFileSync(objcopy, ['-O', 'binary', '--only-section=.text', obj, bin]);
  return { bytes: new Uint8Array(readFileSync(bin)), badLines: [], stderr: '' };
}

interface McaRegion {
  Name: string;
  Instructions: string[];
  InstructionInfoView: {
    InstructionList: {
      Latency: number;
      NumMicroOpcodes: number;
      RThroughput: number;
      hasUnmodeledSideEffects: boolean;
      mayLoad: boolean;
      mayStore: boolean;
    }[];
  };
  ResourcePressureView: { ResourcePressureInfo: { InstructionIndex: number; ResourceIndex: number; ResourceUsage: number }[] };
  SummaryView: { DispatchWidth: number; TotalCycles: number; Iterations: number };
}
interface McaOutput {
  CodeRegions: McaRegion[];
  TargetInfo: { CPUName: string; Resources: string[] };
}

/** Runs llvm-mca on `source`; returns its JSON, or the 1-based lines it rejected. */
function runMca(spec: UarchSpec, source: string, mode: McaMode): { out?: McaOutput; badLines: number[]; stderr: string } {
  const src = join(work, 'mca.s');
  writeFileSync(src, source);
  const r = spawnSync(MCA, [`-mtriple=${spec.llvmTriple}`, `-mcpu=${spec.llvmCpu}`, '--json', ...(mode === 'tables' ? ['--instruction-tables'] : [`-iterations=${mode}`]), src], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  if (r.status !== 0) {
    const bad = [...r.stderr.matchAll(/mca\.s:(\d+):\d+: error/g)].map((m) => Number(m[1]));
    return { badLines: bad, stderr: r.stderr };
  }
  return { out: JSON.parse(r.stdout) as McaOutput, badLines: [], stderr: '' };
}

/** `Zn3LSU.\u0000` → `Zn3LSU.0`: llvm-mca prints unit indices of multi-unit resources raw. */
function unitName(raw: string): string {
  return raw.replace(/\.([\u0000-\u001f])$/, (_, c: string) => `.${c.charCodeAt(0)}`);
}

/**
 * Turns one instruction's static per-unit pressure (each group demand spread evenly over the
 * group's units) back into demands. Groups are peeled largest first;
 * a group is taken when all its units still carry pressure, by the smallest residual (or the
 * whole mean when the residuals are equal up to rounding).
 */
const EPS = 0.002;

function decompose(pressure: Map<number, number>, groups: number[][]): Demand[] {
  const residual = new Map(pressure);
  const demands: Demand[] = [];
  for (const g of groups) {
    for (;;) {
      const vals = g.map((u) => residual.get(u) ?? 0);
      const min = Math.min(...vals);
      if (min <= EPS) break;
      const max = Math.max(...vals);
      const share = max - min <= 0.002 ? vals.reduce((a, b) => a + b, 0) / g.length : min;
      for (const u of g) residual.set(u, (residual.get(u) ?? 0) - share);
      demands.push([g.slice(), round(share * g.length)]);
      if (share !== min) break;
    }
  }
  for (const [u, v] of [...residual].sort((a, b) => a[0] - b[0])) if (v > EPS) demands.push([[u], round(v)]);
  // Merge equal groups so each appears once.
  const merged = new Map<string, Demand>();
  for (const [units, cycles] of demands) {
    const k = units.join(',');
    const prev = merged.get(k);
    merged.set(k, [units, round((prev?.[1] ?? 0) + cycles)]);
  }
  return [...merged.values()].sort((a, b) => a[0].join(',').localeCompare(b[0].join(',')));
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

interface CorpusLine {
  readonly line: string;
  readonly key: string;
  readonly form: ParsedForm;
}

/** Kept corpus lines with their Capstone decoding, after dropping what `as` rejects. */
async function decodeCorpus(arch: Arch): Promise<CorpusLine[]> {
  let lines = instructionCorpus(arch);
  const { header } = assemblerFor(arch);
  const headerLines = header === '' ? 0 : 1;
  for (let attempt = 0; ; attempt++) {
    const source = header + lines.join('\n') + '\n.Ltarget:\nnop\n';
    const r = assemble(arch, source);
    if (r.bytes) {
      const insns = await disassemble(arch, r.bytes, 0n);
      if (insns.length !== lines.length + 1) throw new Error(`${arch}: ${insns.length - 1} instructions for ${lines.length} corpus lines`);
      const out: CorpusLine[] = [];
      for (let i = 0; i < lines.length; i++) {
        const insn = insns[i];
        try {
          const form = parseForm(arch, insn.mnemonic, insn.opStr);
          out.push({ line: lines[i], key: form.key, form });
        } catch (e) {
          process.stderr.write(`${arch}: dropped '${lines[i]}': ${(e as Error).message}\n`);
        }
      }
      return out;
    }
    if (r.badLines.length === 0 || attempt > 20) throw new Error(`${arch}: assembler failed:\n${r.stderr}`);
    const bad = new Set(r.badLines.map((n) => n - 1 - headerLines));
    for (const i of [...bad].sort((a, b) => a - b)) process.stderr.write(`${arch}: as rejected '${lines[i]}'\n`);
    lines = lines.filter((_, i) => !bad.has(i));
  }
}

function mcaSource(arch: Arch, regions: { name: string; lines: string[] }[]): { source: string; lineOwner: number[] } {
  const { header } = assemblerFor(arch);
  const out: string[] = header === '' ? [] : [header.trim()];
  const lineOwner: number[] = header === '' ? [] : [-1];
  regions.forEach((r, i) => {
    out.push(`# LLVM-MCA-BEGIN ${r.name}`);
    lineOwner.push(i);
    for (const l of r.lines) {
      out.push(l);
      lineOwner.push(i);
    }
    out.push('# LLVM-MCA-END');
    lineOwner.push(i);
  });
  out.push('.Ltarget:', 'nop');
  return { source: out.join('\n') + '\n', lineOwner };
}

/** Runs regions through llvm-mca, dropping regions with rejected lines; returns kept regions' JSON by name. */
/** `tables`: static instruction tables; a number: simulate that many iterations. */
type McaMode = 'tables' | number;

function mcaRegions(spec: UarchSpec, regions: { name: string; lines: string[] }[], mode: McaMode = ITERATIONS): { byName: Map<string, McaRegion>; resources: string[] } {
  let live = regions.slice();
  for (let attempt = 0; ; attempt++) {
    const { source, lineOwner } = mcaSource(spec.arch, live);
    const r = runMca(spec, source, mode);
    if (r.out) {
      const byName = new Map<string, McaRegion>();
      for (const region of r.out.CodeRegions) byName.set(region.Name, region);
      return { byName, resources: r.out.TargetInfo.Resources.map(unitName) };
    }
    if (r.badLines.length === 0 || attempt > 30) throw new Error(`${spec.name}: llvm-mca failed:\n${r.stderr.slice(0, 2000)}`);
    const bad = new Set(r.badLines.map((n) => lineOwner[n - 1]));
    for (const i of bad) process.stderr.write(`${spec.name}: llvm-mca rejected region '${live[i]?.name}': ${live[i]?.lines.join('; ')}\n`);
    live = live.filter((_, i) => !bad.has(i));
  }
}

function mcaVersion(): string {
  const out = execFileSync(MCA, ['--version'], { encoding: 'utf8' });
  return /LLVM version [^\s]+/.exec(out)?.[0] ?? out.split('\n')[0];
}

/** Steady-state cycles per iteration of each region: (Total(2N) - Total(N)) / N. */
function steadyCycles(spec: UarchSpec, regions: { name: string; lines: string[] }[]): Map<string, number> {
  const a = mcaRegions(spec, regions, ITERATIONS).byName;
  const b = mcaRegions(spec, regions, 2 * ITERATIONS).byName;
  const out = new Map<string, number>();
  for (const [name, r] of a) {
    const r2 = b.get(name);
    if (r2) out.set(name, round((r2.SummaryView.TotalCycles - r.SummaryView.TotalCycles) / ITERATIONS));
  }
  return out;
}

/** The line with the addend chained to the destination: `fmadd d1, d2, d3, d4` → `…, d1`. */
function accumulatorProbe(c: CorpusLine): string | undefined {
  const { form } = c;
  const effects = registerEffects(form);
  if (!effects.reads.some((r) => r.accumulator)) return undefined;
  if (form.arch === 'aarch64' && /^(madd|msub|smaddl|umaddl|smsubl|umsubl|fmadd|fmsub|fnmadd|fnmsub)$/.test(form.mnemonic)) {
    const dest = c.line.split(/[\s,]+/)[1];
    return c.line.replace(/[a-z]\d+$/, dest);
  }
  return c.line; // the destination is the addend already
}

async function buildTable(spec: UarchSpec, corpus: CorpusLine[]): Promise<UarchTableData> {
  // Every corpus line gets a region, so lines that collapse to one key can be cross-checked;
  // the first line of each key provides the entry.
  const regions = corpus.map((c, i) => ({ name: `f${i}`, lines: [c.line] }));
  // --instruction-tables reports the scheduling model's static per-unit distribution (each
  // group demand spread uniformly over its units) instead of a simulation's choices, which
  // is what the group decomposition below can invert.
  const { byName, resources } = mcaRegions(spec, regions, 'tables');
  const dispatchWidth = mcaRegions(spec, [{ name: 'probe', lines: ['nop'] }]).byName.get('probe')!.SummaryView.DispatchWidth;
  const firstByKey = new Map<string, number>();
  corpus.forEach((c, i) => {
    if (byName.has(`f${i}`) && !firstByKey.has(c.key)) firstByKey.set(c.key, i);
  });
  const keys = [...firstByKey.keys()];

  // Chain probes: pointer updates (push/pop/call/ret, AArch64 writeback) and addends.
  const ptrProbes: { name: string; lines: string[] }[] = [];
  const accProbes: { name: string; lines: string[] }[] = [];
  for (const key of keys) {
    const c = corpus[firstByKey.get(key)!];
    const idx = firstByKey.get(key)!;
    if (registerEffects(c.form).writes.some((w) => w.pointerUpdate)) ptrProbes.push({ name: `f${idx}`, lines: [c.line] });
    const acc = accumulatorProbe(c);
    if (acc !== undefined) accProbes.push({ name: `f${idx}`, lines: [acc] });
  }
  const ptrLat = steadyCycles(spec, ptrProbes);
  const accLat = steadyCycles(spec, accProbes);

  const unitIndex = new Map(resources.map((u, i) => [u, i]));
  const groups: number[][] = [];
  for (const g of spec.groups) {
    const idx = g.map((u) => unitIndex.get(u));
    if (idx.some((i) => i === undefined)) throw new Error(`${spec.name}: group ${g.join('|')} names a unit llvm-mca does not report (${resources.join(', ')})`);
    groups.push(idx as number[]);
  }
  // Multi-unit resources (`Name.0`, `Name.1`, …) are groups of their units.
  const multi = new Map<string, number[]>();
  resources.forEach((u, i) => {
    const m = /^(.*)\.\d+$/.exec(u);
    if (m) multi.set(m[1], [...(multi.get(m[1]) ?? []), i]);
  });
  groups.push(...multi.values());
  // Largest first; equal sizes keep the spec's order (most common groups listed first).
  groups.sort((a, b) => b.length - a.length);

  const entryOf = (i: number): FormEntry | undefined => {
    const region = byName.get(`f${i}`);
    if (!region) return undefined;
    const info = region.InstructionInfoView.InstructionList[0];
    const pressure = new Map<number, number>();
    for (const p of region.ResourcePressureView.ResourcePressureInfo) {
      if (p.InstructionIndex === 0) pressure.set(p.ResourceIndex, (pressure.get(p.ResourceIndex) ?? 0) + p.ResourceUsage);
    }
    const entry: FormEntry = {
      lat: info.Latency,
      uops: info.NumMicroOpcodes,
      rtp: round(info.RThroughput),
      load: info.mayLoad,
      store: info.mayStore,
      side: info.hasUnmodeledSideEffects,
      demands: decompose(pressure, groups),
      src: corpus[i].line,
    };
    const p = ptrLat.get(`f${i}`);
    const a = accLat.get(`f${i}`);
    return { ...entry, ...(a !== undefined ? { accLat: a } : {}), ...(p !== undefined ? { ptrLat: p } : {}) };
  };

  const forms: Record<string, FormEntry> = {};
  for (const key of keys) forms[key] = entryOf(firstByKey.get(key)!)!;
  // Lines that share a key but not their costs mean the key is too coarse: say so.
  corpus.forEach((c, i) => {
    const first = forms[c.key];
    const e = first && firstByKey.get(c.key) !== i ? entryOf(i) : undefined;
    if (!e) return;
    if (e.lat !== first.lat || e.uops !== first.uops || JSON.stringify(e.demands) !== JSON.stringify(first.demands)) {
      process.stderr.write(`${spec.name}: key '${c.key}' covers '${first.src}' (lat ${first.lat}, ${first.uops} uops) and '${c.line}' (lat ${e.lat}, ${e.uops} uops)\n`);
    }
  });
  // Register-source latency of x86 load-op forms: the latency of the register twin.
  if (spec.arch === 'x64') {
    for (const key of Object.keys(forms)) {
      const f = forms[key];
      if (!f.load || f.store) continue;
      const [mn, ops] = key.split(' ');
      if (!ops) continue;
      const classes = ops.split(',');
      const mi = classes.findIndex((c) => /^m\d+$/.test(c));
      if (mi <= 0) continue;
      const dst = classes[0];
      const twin = classes.slice();
      twin[mi] = dst.startsWith('r') ? `r${classes[mi].slice(1)}` : dst;
      const reg = forms[`${mn} ${twin.join(',')}`];
      if (reg && reg.lat < f.lat) forms[key] = { ...f, regLat: reg.lat };
    }
  }
  const sorted: Record<string, FormEntry> = {};
  for (const k of Object.keys(forms).sort()) sorted[k] = forms[k];
  const table: UarchTableData = { name: spec.name, arch: spec.arch, llvmMca: mcaVersion(), dispatchWidth, units: resources, forms: sorted };
  return spec.adjust ? adjustTable(table, spec.adjust) : table;
}

/**
 * Applies a spec's documented corrections to llvm-mca's data (UarchSpec.adjust): a wider
 * dispatch, units the scheduling model lacks (each joins every demand spread over its
 * group), latency deltas by mnemonic, and scaled store demands.
 */
function adjustTable(table: UarchTableData, adjust: TableAdjustments): UarchTableData {
  const units = [...table.units];
  const index = (name: string): number => {
    const i = units.indexOf(name);
    if (i < 0) throw new Error(`${table.name}: adjustment names unit ${name}, not one of ${units.join(', ')}`);
    return i;
  };
  const widen = (adjust.addUnits ?? []).map(({ group, units: extra }) => {
    const g = group.map(index).sort((a, b) => a - b);
    const added = extra.map((u) => {
      units.push(u);
      return units.length - 1;
    });
    return { key: g.join(','), added };
  });
  const scaled = adjust.storeDemandScale ? new Set(adjust.storeDemandScale.units.map(index)) : new Set<number>();
  const forms: Record<string, FormEntry> = {};
  for (const [key, f] of Object.entries(table.forms)) {
    const mnemonic = key.split(' ')[0];
    let demands = f.demands.map(([us, cycles]): Demand => {
      const k = [...us].sort((a, b) => a - b).join(',');
      const w = widen.find((x) => x.key === k);
      return [w ? [...us, ...w.added] : us, cycles];
    });
    if (f.store && adjust.storeDemandScale) {
      const s = adjust.storeDemandScale.scale;
      demands = demands.map(([us, cycles]): Demand => (us.every((u) => scaled.has(u)) ? [us, round(cycles * s)] : [us, cycles]));
    }
    const delta = (adjust.latency ?? []).filter((l) => l.mnemonic.test(mnemonic)).reduce((sum, l) => sum + l.delta, 0);
    const entry: FormEntry = { ...f, demands, lat: f.lat + delta };
    if (delta !== 0 && f.regLat !== undefined) Object.assign(entry, { regLat: f.regLat + delta });
    if (delta !== 0 && f.accLat !== undefined) Object.assign(entry, { accLat: f.accLat + delta });
    forms[key] = entry;
  }
  return { ...table, dispatchWidth: adjust.dispatchWidth ?? table.dispatchWidth, units, forms, adjusted: adjust.source };
}

/** Pretty-prints with one line per form (readable diffs), everything else JSON. */
function serialize(value: unknown): string {
  if (value && typeof value === 'object' && 'forms' in value) {
    const { forms, ...rest } = value as UarchTableData;
    const head = JSON.stringify(rest, null, 1).replace(/\n}$/, '');
    const lines = Object.entries(forms).map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)}`);
    return `${head},\n "forms": {\n${lines.join(',\n')}\n }\n}`;
  }
  if (Array.isArray(value)) return `[\n${value.map((v) => ' ' + JSON.stringify(v)).join(',\n')}\n]`;
  return JSON.stringify(value, null, 1);
}

function writeTs(file: string, header: string, exportLine: string, value: unknown, dir = DATA): void {
  writeFileSync(join(dir, file), `${header}\n${exportLine} ${serialize(value)};\n`);
}

const GENERATED = '// Generated by scripts/gen-timing-tables.ts from llvm-mca scheduling models (Apache-2.0 WITH LLVM-exception). Do not edit.';

async function main(): Promise<void> {
  const corpus = new Map<Arch, CorpusLine[]>();
  for (const arch of ['x64', 'aarch64'] as const) corpus.set(arch, await decodeCorpus(arch));

  for (const name of UARCH_NAMES) {
    const spec = UARCH_SPECS[name];
    const table = await buildTable(spec, corpus.get(spec.arch)!);
    const ident = name.replace(/-/g, '_').toUpperCase();
    writeTs(
      `${name}.ts`,
      `${GENERATED}\nimport type { UarchTableData } from '../table.ts';\n`,
      `export const ${ident}: UarchTableData =`,
      table,
    );
    process.stderr.write(`${name}: ${Object.keys(table.forms).length} forms, dispatch width ${table.dispatchWidth}\n`);
  }

  // Validation kernels: bytes from GNU as, goldens from llvm-mca.
  const goldens: KernelGolden[] = [];
  for (const k of KERNELS) {
    const { header } = assemblerFor(k.arch);
    const label = `.Lloop_${k.name.replace(/[^A-Za-z0-9]/g, "_")}`;
    const body = k.asm.trim().split('\n').map((l) => l.trim().replace(/\bLOOP\b/, label)).filter((l) => l !== '');
    const r = assemble(k.arch, `${header}${label}:\n${body.join('\n')}\n`);
    if (!r.bytes) throw new Error(`kernel ${k.name}: assembler failed:\n${r.stderr}`);
    const cycles: Partial<Record<UarchName, number>> = {};
    const cycles2: Partial<Record<UarchName, number>> = {};
    for (const name of UARCH_NAMES) {
      const spec = UARCH_SPECS[name];
      if (spec.arch !== k.arch) continue;
      const { byName } = mcaRegions(spec, [{ name: k.name, lines: [`${label}:`, ...body] }]);
      const region = byName.get(k.name);
      if (!region) throw new Error(`kernel ${k.name}: llvm-mca rejected it on ${name}`);
      cycles[name] = region.SummaryView.TotalCycles;
      const twice = mcaRegions(spec, [{ name: k.name, lines: [`${label}:`, ...body] }], 2 * ITERATIONS).byName.get(k.name);
      cycles2[name] = twice!.SummaryView.TotalCycles;
    }
    goldens.push({ name: k.name, arch: k.arch, bytes: Buffer.from(r.bytes).toString('hex'), iterations: ITERATIONS, totalCycles: cycles, totalCyclesTwice: cycles2 });
  }
  writeTs(
    'kernel-goldens.ts',
    `${GENERATED}\nimport type { Arch } from '../../../isa/arch.ts';\nimport type { UarchName } from '../table.ts';\n\n/** A validation kernel: loop body bytes (the last instruction branches back to offset 0) and llvm-mca Total Cycles for \`iterations\` iterations. */\nexport interface KernelGolden {\n  readonly name: string;\n  readonly arch: Arch;\n  readonly bytes: string;\n  readonly iterations: number;\n  readonly totalCycles: Readonly<Partial<Record<UarchName, number>>>;\n  /** Total Cycles for 2 × \`iterations\`: the difference over \`iterations\` is the steady state. */\n  readonly totalCyclesTwice: Readonly<Partial<Record<UarchName, number>>>;\n}\n`,
    'export const KERNEL_GOLDENS: readonly KernelGolden[] =',
    goldens,
    join(ROOT, 'simulator/timing/testing'),
  );
  process.stderr.write(`kernels: ${goldens.length}\n`);
  rmSync(work, { recursive: true, force: true });
}

interface KernelGolden {
  name: string;
  arch: Arch;
  bytes: string;
  iterations: number;
  totalCycles: Partial<Record<UarchName, number>>;
  totalCyclesTwice: Partial<Record<UarchName, number>>;
}

await main();
