/**
 * Disassembly of a relocatable object's code sections the way `objdump -dr` shows it: each
 * executable section, symbol labels where functions start, every instruction with its bytes,
 * and the relocations that patch it listed right below (AArch64 `$d` data ranges as `.word`).
 * Addresses are section offsets, as in an unlinked object.
 */
import { createDisassembler } from '../isa/disasm.ts';
import { hex } from '../isa/error.ts';
import { LoaderError, SHF_EXECINSTR, type ElfObject } from './elf.ts';

export interface ObjdumpLine {
  readonly offset: bigint;
  readonly bytes: Uint8Array;
  readonly text: string;
  readonly invalid: boolean;
  readonly relocations: ReadonlyArray<{ offset: bigint; type: string; target: string }>;
}

export interface ObjdumpSymbol {
  readonly name: string;
  readonly offset: bigint;
  readonly lines: ObjdumpLine[];
}

export interface ObjdumpSection {
  readonly name: string;
  readonly symbols: ObjdumpSymbol[];
}

export interface ObjdumpOptions {
  /** Only this section (e.g. `.text.foo`). */
  section?: string;
  /** Only this symbol's code. */
  symbol?: string;
}

function relocationTarget(obj: ElfObject, symbolIndex: number, addend: bigint): string {
  const sym = obj.symbols[symbolIndex];
  const name = sym ? sym.name || '*ABS*' : `#${symbolIndex}`;
  if (addend === 0n) return name;
  return `${name}${addend < 0n ? '-' : '+'}${hex(addend < 0n ? -addend : addend)}`;
}

export function disassembleObject(obj: ElfObject, options: ObjdumpOptions = {}): ObjdumpSection[] {
  const disassembler = createDisassembler(obj.arch);
  const code = obj.sections.filter((s) => (s.flags & SHF_EXECINSTR) !== 0n && s.size > 0n && s.data.length > 0);
  const chosen = options.section === undefined ? code : code.filter((s) => s.name === options.section);
  if (options.section !== undefined && chosen.length === 0) {
    throw new LoaderError('bad-index', obj.file, `no code section named ${options.section} (code sections: ${code.map((s) => s.name).join(', ') || 'none'})`);
  }
  const result: ObjdumpSection[] = [];
  let symbolFound = false;
  for (const section of chosen) {
    const syms = obj.symbols.filter((s) => s.shndx === section.index && s.index !== 0 && s.name !== '' && s.type !== 3 && s.type !== 4);
    const labels = syms.filter((s) => !s.isMapping).sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : a.name.localeCompare(b.name)));
    const dataRanges = syms.filter((s) => s.isMapping).sort((a, b) => (a.value < b.value ? -1 : 1));
    const isData = (offset: bigint) => {
      let d = false;
      for (const m of dataRanges) if (m.value <= offset) d = m.name.startsWith('$d');
      return d;
    };
    const relocs = obj.relocationSections.filter((r) => r.target.index === section.index).flatMap((r) => r.relocations);
    const starts = [...new Set([0n, ...labels.map((l) => l.value)])].filter((v) => v < section.size).sort((a, b) => (a < b ? -1 : 1));
    const symbols: ObjdumpSymbol[] = [];
    starts.forEach((start, i) => {
      const end = i + 1 < starts.length ? starts[i + 1] : section.size;
      const name = labels.find((l) => l.value === start)?.name ?? section.name;
      if (options.symbol !== undefined && name !== options.symbol) return;
      symbolFound = true;
      const lines: ObjdumpLine[] = [];
      let at = start;
      while (at < end) {
        const bytesLeft = section.data.subarray(Number(at), Number(end));
        let length: number;
        let text: string;
        let invalid = false;
        if (obj.arch === 'aarch64' && isData(at)) {
          length = Math.min(4, bytesLeft.length);
          text = `.word ${hex(new DataView(bytesLeft.buffer, bytesLeft.byteOffset, length).getUint32(0, true) >>> 0)}`;
        } else {
          const [insn] = disassembler.disasm(bytesLeft, at, { count: 1 });
          if (!insn || insn.invalid) {
            length = obj.arch === 'aarch64' ? Math.min(4, bytesLeft.length) : 1;
            text = '(bad)';
            invalid = true;
          } else {
            length = insn.bytes.length;
            text = insn.text;
          }
        }
        const next = at + BigInt(length);
        const mine = relocs.filter((r) => r.offset >= at && r.offset < next).map((r) => ({ offset: r.offset, type: r.typeName, target: relocationTarget(obj, r.symbolIndex, r.addend) }));
        lines.push({ offset: at, bytes: section.data.slice(Number(at), Number(next)), text, invalid, relocations: mine });
        at = next;
      }
      symbols.push({ name, offset: start, lines });
    });
    if (symbols.length) result.push({ name: section.name, symbols });
  }
  if (options.symbol !== undefined && !symbolFound) throw new LoaderError('bad-symbol', obj.file, `no code symbol named ${options.symbol}`);
  return result;
}

/** `objdump -dr`-style text. */
export function formatObjdump(obj: ElfObject, sections: readonly ObjdumpSection[]): string[] {
  const lines = [`${obj.file}:     file format elf64-${obj.arch === 'x64' ? 'x86-64' : 'littleaarch64'}`];
  for (const s of sections) {
    lines.push('', `Disassembly of section ${s.name}:`);
    for (const sym of s.symbols) {
      lines.push('', `${sym.offset.toString(16).padStart(16, '0')} <${sym.name}>:`);
      for (const l of sym.lines) {
        lines.push(`${l.offset.toString(16).padStart(8)}:\t${[...l.bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ').padEnd(21)}\t${l.text}`);
        for (const r of l.relocations) lines.push(`\t\t\t${r.offset.toString(16)}: ${r.type}\t${r.target}`);
      }
    }
  }
  return lines;
}
