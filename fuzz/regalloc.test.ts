/**
 * Property tests of register allocation on the GC fuzzer's programs (issue 17 item 2), on both
 * arches and in both modes:
 *
 * - every stack map lists exactly the slots of the references live across its call. Liveness
 *   is derived here, independently of the compiler: a type stack over the body (which operand
 *   stack entries are externrefs when the call is made, per call kind) and a backward dataflow
 *   of the externref locals over the structured control flow. With `none` the map must be those
 *   entries' and locals' slots; with `linear-scan` it must have one slot per live reference, all
 *   in the spill area, each reference in a register spilled to its slot for the call (no live
 *   reference only in a register), and each live local's slot among them;
 * - the programs' observable traces (host calls, results) are identical across modes, and both
 *   match the fuzzer's reference model (the harness's oracle).
 */
import test from 'ava';
import type { Arch } from '../isa/arch.ts';
import { compileModule, REGALLOC_MODES, type CompiledImage, type RegallocMode } from '../compiler/index.ts';
import { localType, type DefinedFunction, type Instr, type ValType, type WasmModule } from '../compiler/frontend/module.ts';
import type { CallSite } from '../compiler/function.ts';
import type { FunctionFrame } from '../compiler/lowering/frame.ts';
import { formatRecord, generateProgram, parseRecord, prepareProgram, replayRecord, runCampaign, runPrepared } from './index.ts';

const ARCHES: readonly Arch[] = ['x64', 'aarch64'];

/** Successors of each instruction over structured control flow (written for this test). */
function successorsOf(body: readonly Instr[]): number[][] {
  const open: number[] = [];
  const succ: number[][] = body.map(() => []);
  const labelTarget = (depth: number): number[] => {
    const o = open[open.length - 1 - depth];
    if (o === undefined) return [];
    const instr = body[o];
    return instr.op === 'loop' ? [o + 1] : [(instr as { end: number }).end];
  };
  body.forEach((instr, i) => {
    const next = i + 1 < body.length ? [i + 1] : [];
    if (instr.dead) {
      if (instr.op === 'block' || instr.op === 'loop' || instr.op === 'if') open.push(i);
      if (instr.op === 'end') open.pop();
      return;
    }
    switch (instr.op) {
      case 'block': case 'loop': open.push(i); succ[i] = next; break;
      case 'if': open.push(i); succ[i] = [i + 1, instr.else >= 0 ? instr.else + 1 : instr.end]; break;
      case 'else': succ[i] = [(body[open[open.length - 1]] as { end: number }).end]; break;
      case 'end': open.pop(); succ[i] = next; break;
      case 'br': succ[i] = labelTarget(instr.depth); break;
      case 'br_if': succ[i] = [...next, ...labelTarget(instr.depth)]; break;
      case 'br_table': succ[i] = [...new Set([...instr.depths, instr.defaultDepth].flatMap(labelTarget))]; break;
      case 'return': case 'unreachable': succ[i] = []; break;
      default: succ[i] = next;
    }
  });
  return succ;
}

/** Externref locals live after each instruction (sets of local indices). */
function refLocalsLiveAfter(fn: DefinedFunction): Set<number>[] {
  const body = fn.body;
  const succ = successorsOf(body);
  const isRef = (l: number): boolean => localType(fn, l) === 'externref';
  const liveIn: Set<number>[] = body.map(() => new Set());
  const liveOut: Set<number>[] = body.map(() => new Set());
  for (let changed = true; changed;) {
    changed = false;
    for (let i = body.length - 1; i >= 0; i--) {
      const instr = body[i];
      if (instr.dead) continue;
      const out = new Set<number>();
      for (const s of succ[i]) for (const l of liveIn[s]) out.add(l);
      const inn = new Set(out);
      if ((instr.op === 'local.set' || instr.op === 'local.tee') && isRef(instr.local)) inn.delete(instr.local);
      if (instr.op === 'local.get' && isRef(instr.local)) inn.add(instr.local);
      if (out.size !== liveOut[i].size || inn.size !== liveIn[i].size) changed = true;
      liveOut[i] = out;
      liveIn[i] = inn;
    }
  }
  return liveOut;
}

interface ExpectedSite {
  instrIndex: number;
  kind: CallSite['kind'];
  /** Operand-stack depths holding externrefs that survive the call. */
  depths: number[];
  locals: number[];
}

/**
 * The calls each instruction makes and the operand stack that survives each, from a type stack
 * over the body. Only the instructions the fuzzer's programs use are known; anything else fails
 * the test (extend the table with the generator).
 */
function expectedSites(module: WasmModule, fn: DefinedFunction): ExpectedSite[] {
  const liveAfter = refLocalsLiveAfter(fn);
  const stack: ValType[] = [];
  const saved: ValType[][] = [];
  const sites: ExpectedSite[] = [];
  const site = (i: number, kind: CallSite['kind'], height: number): void => {
    const depths: number[] = [];
    for (let d = 0; d < height; d++) if (stack[d] === 'externref') depths.push(d);
    sites.push({ instrIndex: i, kind, depths, locals: [...liveAfter[i]].sort((a, b) => a - b) });
  };
  const pop = (n: number): void => void stack.splice(stack.length - n, n);
  fn.body.forEach((instr, i) => {
    if (instr.dead) return;
    const h = stack.length;
    switch (instr.op) {
      case 'local.get': stack.push(localType(fn, instr.local)!); break;
      case 'local.set': pop(1); break;
      case 'local.tee': break;
      case 'i32.const': stack.push('i32'); break;
      case 'ref.null': stack.push(instr.type); break;
      case 'ref.is_null': pop(1); stack.push('i32'); break;
      case 'i32.gt_s': case 'i32.sub': pop(2); stack.push('i32'); break;
      case 'select': pop(3); stack.push(instr.type!); break;
      case 'drop': pop(1); break;
      case 'global.get': site(i, 'libcall', h); stack.push('externref'); break;
      case 'global.set': site(i, 'libcall', h - 1); pop(1); break;
      case 'table.size': stack.push('i32'); break;
      case 'table.get': {
        pop(1);
        stack.push(module.tableTypes[instr.table].elemType);
        // The externref read barrier's slow path keeps the element (the result) across its libcall.
        if (module.tableTypes[instr.table].elemType === 'externref') site(i, 'libcall', h);
        else site(i, 'libcall', h - 1);
        break;
      }
      case 'table.set': site(i, 'libcall', h - 2); pop(2); break;
      case 'table.grow': site(i, 'libcall', h - 2); pop(2); stack.push('i32'); break;
      case 'table.fill': site(i, 'libcall', h - 3); pop(3); break;
      case 'call': {
        const t = module.types[module.funcTypeIndices[instr.func]];
        site(i, instr.func < module.counts.numImportedFunctions ? 'call-import' : 'call', h - t.params.length);
        pop(t.params.length);
        stack.push(...t.results);
        break;
      }
      case 'call_indirect': {
        const t = module.types[instr.typeIndex];
        site(i, 'libcall', h - 1); // the funcref table's lazy initialization
        site(i, 'call-indirect', h - 1 - t.params.length);
        pop(1 + t.params.length);
        stack.push(...t.results);
        break;
      }
      case 'block': case 'loop': saved.push(stack.slice(0, h - instr.type.params.length)); break;
      case 'if': pop(1); saved.push(stack.slice(0, h - 1 - instr.type.params.length)); break;
      case 'end': {
        const opener = fn.body[instr.opener] as { type?: { results: readonly ValType[] } } | undefined;
        const base = saved.pop() ?? [];
        stack.length = 0;
        stack.push(...base, ...(opener?.type?.results ?? []));
        break;
      }
      case 'br_if': pop(1); break;
      case 'unreachable': case 'nop': break;
      default: throw new Error(`the test's type stack does not know '${instr.op}'`);
    }
  });
  return sites;
}

function checkFunction(module: WasmModule, image: CompiledImage, regalloc: RegallocMode, fn: DefinedFunction): string | undefined {
  const compiled = image.functions.find((f) => f.funcIndex === fn.index)!;
  const frame: FunctionFrame = compiled.frame;
  const want = expectedSites(module, fn);
  // A lazy-initialization libcall exists only when the table is a funcref one: the compiler
  // records a site for every call it emits, slow paths included, in code order.
  const got = compiled.callSites;
  if (got.length !== want.length) return `${compiled.name}: ${got.length} call sites, expected ${want.length}`;
  for (let k = 0; k < got.length; k++) {
    const [g, w] = [got[k], want[k]];
    const where = `${compiled.name} site ${k} ([${g.instrIndex}] ${fn.body[g.instrIndex].op}, ${regalloc})`;
    if (g.instrIndex !== w.instrIndex || g.kind !== w.kind) return `${where}: is ${g.kind} at [${g.instrIndex}], expected ${w.kind} at [${w.instrIndex}]`;
    const count = w.depths.length + w.locals.length;
    if (regalloc === 'none') {
      const slots = [...w.depths.map((d) => frame.stackBase + 8 * d), ...w.locals.map((l) => frame.localsBase + 8 * l)].sort((a, b) => a - b);
      if (g.liveSlots.join() !== slots.join()) return `${where}: map [${g.liveSlots}], live refs are at [${slots}]`;
      continue;
    }
    if (new Set(g.liveSlots).size !== count || g.liveSlots.length !== count) return `${where}: map [${g.liveSlots}] for ${count} live references`;
    if (!g.liveSlots.every((s) => s >= frame.stackBase && s < frame.localsBase && s % 8 === 0)) return `${where}: map [${g.liveSlots}] outside the spill area`;
    if (!g.spills.every((s) => g.liveSlots.includes(s.slot))) return `${where}: a spill slot is not in the map`;
    if (new Set(g.spills.map((s) => s.reg)).size !== g.spills.length) return `${where}: a register spilled twice`;
    const values = frame.allocation!.values;
    for (const l of w.locals) {
      const v = values.find((a) => a.local === l)!;
      const slot = typeof v.loc === 'number' ? v.loc : v.home;
      if (slot === undefined || !g.liveSlots.includes(slot)) return `${where}: live local ${l} (${String(v.loc)}) has no slot in the map`;
      if (typeof v.loc === 'string' && !g.spills.some((s) => s.reg === v.loc && s.slot === slot)) return `${where}: live local ${l} stays only in ${v.loc}`;
    }
  }
  // No reference that crosses a call lives only in a register.
  if (frame.allocation) {
    for (const v of frame.allocation.values) {
      if (v.type === 'externref' && v.crossesCall && typeof v.loc === 'string' && v.home === undefined) return `${compiled.name}: v${v.vreg} crosses a call in ${v.loc} without a home slot`;
    }
  }
  return undefined;
}

const SEEDS = Array.from({ length: 24 }, (_, k) => 9000 + k);

test.serial('every stack map lists exactly the slots of the references live across its call (fuzzer programs, both arches, both modes)', async (t) => {
  let sites = 0;
  let spilled = 0;
  for (const seed of SEEDS) {
    const prep = await prepareProgram(generateProgram(seed, { ops: 60 }));
    const module = prep.wasm;
    for (const arch of ARCHES) {
      const counts: number[][] = [];
      for (const regalloc of REGALLOC_MODES) {
        const image = compileModule(module, { arch, regalloc });
        for (const fn of module.functions) {
          const problem = checkFunction(module, image, regalloc, fn);
          if (problem) return t.fail(`seed ${seed} on ${arch}: ${problem}`);
        }
        counts.push(image.stackMaps.map((m) => m.site.liveSlots.length));
        sites += image.stackMaps.length;
        spilled += image.stackMaps.reduce((n, m) => n + m.site.spills.length, 0);
      }
      t.deepEqual(counts[0], counts[1], `seed ${seed} on ${arch}: both modes map as many references at each call`);
    }
  }
  t.true(sites > 1000, `only ${sites} call sites checked`);
  t.true(spilled > 100, `only ${spilled} spills: the programs keep too few references in registers across calls`);
});

test.serial('observable traces are identical across modes and match the model (fuzzer programs, both arches)', async (t) => {
  let runs = 0;
  for (const seed of SEEDS.slice(0, 12)) {
    const prep = await prepareProgram(generateProgram(seed, { ops: 60 }));
    for (const arch of ARCHES) {
      const traces: string[][] = [];
      for (const regalloc of REGALLOC_MODES) {
        const out = await runPrepared(prep, arch, 'v17', true, regalloc);
        t.is(out.failure, null, `seed ${seed} on ${arch} (${regalloc}): ${out.failure?.message}`);
        traces.push(out.trace);
        runs++;
      }
      t.deepEqual(traces[1], traces[0], `seed ${seed} on ${arch}: the trace differs between modes`);
    }
  }
  t.is(runs, 12 * 2 * 2);
});

test.serial('a campaign in linear-scan mode writes records that name the mode and replay in it', async (t) => {
  const r = await runCampaign({ programs: 20, seed: 1, arches: ['x64'], regallocs: ['linear-scan'], mutant: 'table-set-no-incref', shrinkAttempts: 60 });
  t.is(r.runs, r.programs, 'one run per program: one arch, one walker, one mode');
  const rec = r.failureRecords[0];
  t.truthy(rec, 'the mutant was caught');
  t.is(rec.regalloc, 'linear-scan');
  const text = formatRecord(rec, 'x.wat');
  t.regex(text, /regalloc linear-scan/);
  t.regex(text, /--regalloc linear-scan/);
  const back = parseRecord(text);
  t.is(back.regalloc, 'linear-scan');
  t.is((await replayRecord(back)).failure?.kind, rec.failure.kind);
  t.is((await replayRecord({ ...back, mutant: null })).failure, null);
});
