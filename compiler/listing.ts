/**
 * The annotated listing of a compiled image (`stackscope compile --print`): per function its
 * frame layout (with `--regalloc linear-scan`, also where each local and each value that
 * crosses a call lives), then every instruction with text offset, bytes and disassembly,
 * interleaved with the Wasm instruction it implements, relocations, trap sites, the spills
 * and reloads of references around calls, and at each call the stack map: mapped words, the
 * bitmap and the slots its set bits cover.
 */
import { formatFloat } from './frontend/float-bits.ts';
import { createDisassembler } from '../isa/disasm.ts';
import type { CompiledImage, ImageFunction } from './image-types.ts';
import { stackMapOf } from './function.ts';
import { frameSlotName, type FunctionFrame } from './lowering/frame.ts';
import type { WasmModule, Instr } from './frontend/module.ts';

const hex = (n: number, width = 4): string => '0x' + n.toString(16).padStart(width, '0');

function describeInstr(instr: Instr): string {
  // Float constants as the text format spells them (their bits, NaN payloads included).
  if (instr.op === 'f32.const') return `f32.const ${formatFloat('f32', BigInt(instr.bits))}`;
  if (instr.op === 'f64.const') return `f64.const ${formatFloat('f64', instr.bits)}`;
  const imm: string[] = [];
  for (const [k, v] of Object.entries(instr)) {
    if (k === 'op' || k === 'offset' || k === 'dead' || k === 'type' || k === 'else' || k === 'end' || k === 'opener' || k === 'blockType') continue;
    if (k === 'memarg') {
      const m = v as { offset: number };
      if (m.offset !== 0) imm.push(`offset=${m.offset}`);
      continue;
    }
    if (k === 'memory' && v === 0) continue;
    imm.push(Array.isArray(v) ? v.join(' ') : typeof v === 'bigint' ? v.toString() : String(v));
  }
  return [instr.op, ...imm].join(' ');
}

/** Names what a frame slot holds, from the function's layout. */
function slotName(fn: ImageFunction, offset: number): string {
  return frameSlotName(fn.frame, offset) ?? `[sp+${offset}]`;
}

const locText = (loc: number | string): string => (typeof loc === 'number' ? `[sp+${loc}]` : loc);

/**
 * The frame header lines of a function with `paramCount` parameters and `localCount` locals in
 * all; locals past those hold values hoisted out of loops (compiler/licm.ts).
 */
function frameLines(f: FunctionFrame, paramCount: number, localCount: number): string[] {
  if (!f.allocation) {
    return [
      `;   frame ${f.frameSize} bytes (${f.frameSize / 8} words): outgoing [0,${f.stackBase}) stack [${f.stackBase},${f.localsBase}) ` +
        `locals [${f.localsBase},${f.localsBase + 8 * (f.paramOffsets.length + f.zeroCount)}) callee-save [${f.calleeSaveOffset},${f.frameSize})`,
    ];
  }
  const a = f.allocation;
  const lines = [
    `;   frame ${f.frameSize} bytes (${f.frameSize / 8} words), regalloc linear-scan: outgoing [0,${f.stackBase}) spill [${f.stackBase},${f.localsBase}) ` +
      `callee-save [${f.calleeSaveOffset},${f.frameSize}) ${(f.savedRegs ?? []).join(' ')}` +
      (f.savedFloatRegs ? ` float callee-save [${f.floatSaveOffset},${f.calleeSaveOffset}) ${f.savedFloatRegs.join(' ')}` : ''),
  ];
  const locals = a.values.filter((v) => v.local !== undefined);
  if (locals.length > 0) {
    const role = (l: number): string => (l < paramCount ? ' (param)' : l >= localCount ? ' (hoisted)' : '');
    lines.push(`;   locals: ${locals.map((v) => `${v.local}${role(v.local!)} ${v.type} ${locText(v.loc)}`).join(', ')}`);
  }
  if (a.heapBase !== undefined) lines.push(`;   heap base (memory 0): ${a.heapBase}, loaded once at entry`);
  const crossing = a.values.filter((v) => v.local === undefined && v.crossesCall);
  if (crossing.length > 0) lines.push(`;   values live across calls: ${crossing.map((v) => `v${v.vreg} ${v.type} ${locText(v.loc)}`).join(', ')}`);
  return lines;
}

export function formatListing(image: CompiledImage, module: WasmModule): string[] {
  const dis = createDisassembler(image.arch);
  const lines: string[] = [];
  lines.push(`; stackscope image: ${image.arch}, ${image.functions.length} function(s), .text ${image.text.length} bytes`);
  for (const fn of image.functions) {
    const f = fn.frame;
    lines.push('');
    lines.push(`; function ${fn.funcIndex} <${fn.symbol}> $${fn.name}  .text+${hex(fn.textOffset)} size ${fn.code.length}`);
    const defined = module.functions[fn.definedIndex];
    lines.push(...frameLines(f, defined.type.params.length, defined.type.params.length + defined.locals.length));
    const body = defined.body;
    const wasmAt = new Map<number, string[]>();
    fn.instrOffsets.forEach((off, i) => {
      if (off < 0) return;
      const list = wasmAt.get(off) ?? [];
      list.push(`;; [${i}] ${describeInstr(body[i])}`);
      wasmAt.set(off, list);
    });
    const relocAt = new Map(fn.relocations.map((r) => [r.offset, r] as const));
    const trapAt = new Map(fn.traps.map((t) => [t.offset, t.code] as const));
    const siteAfter = new Map(fn.callSites.map((s) => [s.callOffset, s] as const));
    const spillAt = new Map<number, string>();
    for (const s of fn.callSites) {
      (s.spills ?? []).forEach((sp, k) => {
        spillAt.set(s.spillOffsets[k], `spill v${sp.vreg} (externref) ${sp.reg} -> [sp+${sp.slot}] for the call`);
        spillAt.set(s.reloadOffsets[k], `reload v${sp.vreg} (externref) [sp+${sp.slot}] -> ${sp.reg} after the call`);
      });
    }
    // Disassembled at the function's .text offset so branch targets read as listing addresses.
    for (const insn of dis.disasm(fn.code, BigInt(fn.textOffset))) {
      const off = Number(insn.address) - fn.textOffset;
      for (const w of wasmAt.get(off) ?? []) lines.push(`                ${w}`);
      const notes: string[] = [];
      for (let b = off; b < off + insn.size; b++) {
        const r = relocAt.get(b);
        if (r) notes.push(`reloc ${r.kind} ${r.symbol}${r.addend < 0n ? r.addend : r.addend > 0n ? '+' + r.addend : ''}`);
      }
      const trap = trapAt.get(off);
      if (trap) notes.push(`trap ${trap}`);
      const spill = spillAt.get(off);
      if (spill) notes.push(spill);
      const bytes = Buffer.from(insn.bytes).toString('hex').replace(/(..)(?!$)/g, '$1 ');
      const text = `  ${hex(fn.textOffset + off, 6)}:  ${bytes.padEnd(30)}${insn.text}`;
      lines.push(notes.length > 0 ? `${text.padEnd(84)}; ${notes.join('; ')}` : text);
      const site = siteAfter.get(off);
      if (site) {
        const map = stackMapOf(site, fn.frameSize);
        const bits = map.bitmap.map((w) => w.toString(2).padStart(Math.min(32, map.mappedWords), '0')).join(' ');
        const covered = site.liveSlots.map((s) => `[sp+${s}] ${slotName(fn, s)}`).join(', ');
        lines.push(
          `                ; safepoint ${site.kind} ${site.callee}, return ${hex(fn.textOffset + site.returnOffset, 6)}: ${map.mappedWords} words, bits ${bits}` +
            (covered ? ` -> ${covered}` : ' -> none'),
        );
      }
    }
  }
  return lines;
}
