/**
 * Test oracle: assembles many lines with GNU as in one process run and returns, per input line,
 * the bytes GNU as produced for it and the relocations it recorded inside those bytes.
 *
 * Each line is preceded by a marker symbol; the object file's symbol table then tells where every
 * line starts, so one run of `as` serves thousands of cases (≈ 5 ms per run instead of per case).
 * Only tests use this module: it spawns binutils, which production code never does.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Arch } from './arch.ts';
import { StackscopeError } from './error.ts';

/** A relocation GNU as recorded, with `offset` relative to the start of its line's bytes. */
export interface OracleRelocation {
  offset: number;
  /** ELF name, e.g. `R_X86_64_PLT32`, `R_AARCH64_CALL26`; unknown numbers read `R_<arch>_#<n>`. */
  type: string;
  symbol: string;
  addend: bigint;
}

export interface OracleLine {
  /** The source line as given. */
  source: string;
  bytes: Uint8Array;
  relocations: OracleRelocation[];
  /** Set (and `bytes` empty) when GNU as rejected the line and `tolerateErrors` was on. */
  error?: string;
}

/** GNU as could not be run, or rejected lines while errors were not tolerated. */
export class AssemblerOracleError extends StackscopeError {
  override name = 'AssemblerOracleError';
  constructor(
    readonly arch: Arch,
    /** Indexes into the input lines that GNU as rejected (empty when `as` itself failed). */
    readonly failedLines: readonly { index: number; source: string; message: string }[],
    readonly stderr: string,
  ) {
    super(
      failedLines.length > 0
        ? `GNU as (${arch}) rejected ${failedLines.length} line(s): ` +
            failedLines
              .slice(0, 5)
              .map((f) => `#${f.index} '${f.source}': ${f.message}`)
              .join('; ')
        : `GNU as (${arch}) failed: ${stderr.trim().slice(0, 500)}`,
    );
  }
}

const ASSEMBLER: Record<Arch, string> = { x64: 'as', aarch64: 'aarch64-linux-gnu-as' };
const PROLOGUE: Record<Arch, string[]> = {
  x64: ['.intel_syntax noprefix', '.text'],
  aarch64: ['.text'],
};

const RELOCATION_NAMES: Record<Arch, Record<number, string>> = {
  x64: { 1: 'R_X86_64_64', 2: 'R_X86_64_PC32', 4: 'R_X86_64_PLT32', 10: 'R_X86_64_32', 11: 'R_X86_64_32S' },
  aarch64: {
    257: 'R_AARCH64_ABS64',
    274: 'R_AARCH64_ADR_PREL_LO21',
    275: 'R_AARCH64_ADR_PREL_PG_HI21',
    277: 'R_AARCH64_ADD_ABS_LO12_NC',
    278: 'R_AARCH64_LDST8_ABS_LO12_NC',
    282: 'R_AARCH64_JUMP26',
    283: 'R_AARCH64_CALL26',
    284: 'R_AARCH64_LDST16_ABS_LO12_NC',
    285: 'R_AARCH64_LDST32_ABS_LO12_NC',
    286: 'R_AARCH64_LDST64_ABS_LO12_NC',
  },
};

const MARKER = '__stackscope_oracle_line_';

/**
 * Assembles `lines` (one instruction or directive each; labels may be defined and used across
 * lines) and splits the resulting .text by line. With `tolerateErrors`, lines GNU as rejects are
 * reported in `error` and the rest are assembled in a second run; otherwise they throw.
 */
export function assembleLines(
  arch: Arch,
  lines: readonly string[],
  options: { tolerateErrors?: boolean } = {},
): OracleLine[] {
  const first = runAssembler(arch, lines);
  if (first.kind === 'ok') return first.lines;
  if (!options.tolerateErrors || first.failed.length === 0) {
    throw new AssemblerOracleError(arch, first.failed, first.stderr);
  }
  const rejected = new Map(first.failed.map((f) => [f.index, f.message]));
  const second = runAssembler(
    arch,
    lines.map((l, i) => (rejected.has(i) ? '' : l)),
  );
  if (second.kind !== 'ok') throw new AssemblerOracleError(arch, second.failed, second.stderr);
  return second.lines.map((l, i) =>
    rejected.has(i) ? { source: lines[i], bytes: new Uint8Array(0), relocations: [], error: rejected.get(i) } : { ...l, source: lines[i] },
  );
}

type RunResult =
  | { kind: 'ok'; lines: OracleLine[] }
  | { kind: 'failed'; failed: { index: number; source: string; message: string }[]; stderr: string };

function runAssembler(arch: Arch, lines: readonly string[]): RunResult {
  const source: string[] = [...PROLOGUE[arch]];
  // 1-based source line number of each input line, to map GNU as diagnostics back.
  const lineOfInput = new Map<number, number>();
  lines.forEach((line, index) => {
    if (/[\n\r]/.test(line)) {
      throw new AssemblerOracleError(arch, [{ index, source: line, message: 'line contains a newline' }], '');
    }
    source.push(`${MARKER}${index}:`);
    source.push(line);
    lineOfInput.set(source.length, index);
  });
  source.push(`${MARKER}${lines.length}:`);

  const dir = mkdtempSync(join(tmpdir(), 'stackscope-as-'));
  try {
    const input = join(dir, 'in.s');
    const output = join(dir, 'out.o');
    writeFileSync(input, source.join('\n') + '\n');
    const run = spawnSync(ASSEMBLER[arch], ['-o', output, input], { encoding: 'utf8' });
    if (run.error) throw new AssemblerOracleError(arch, [], String(run.error));
    if (run.status !== 0) {
      const failed: { index: number; source: string; message: string }[] = [];
      for (const m of run.stderr.matchAll(/:(\d+): Error: (.*)/g)) {
        const index = lineOfInput.get(Number(m[1]));
        if (index !== undefined) failed.push({ index, source: lines[index], message: m[2] });
      }
      return { kind: 'failed', failed, stderr: run.stderr };
    }
    return { kind: 'ok', lines: splitObject(arch, readFileSync(output), lines) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Reads just enough of an ELF64 little-endian relocatable object: .text, .symtab, .rela.text. */
function splitObject(arch: Arch, file: Buffer, lines: readonly string[]): OracleLine[] {
  const shoff = Number(file.readBigUInt64LE(0x28));
  const shentsize = file.readUInt16LE(0x3a);
  const shnum = file.readUInt16LE(0x3c);
  const shstrndx = file.readUInt16LE(0x3e);
  const sections = Array.from({ length: shnum }, (_, i) => {
    const at = shoff + i * shentsize;
    return {
      nameOffset: file.readUInt32LE(at),
      type: file.readUInt32LE(at + 4),
      offset: Number(file.readBigUInt64LE(at + 24)),
      size: Number(file.readBigUInt64LE(at + 32)),
      link: file.readUInt32LE(at + 40),
      info: file.readUInt32LE(at + 44),
    };
  });
  const cString = (at: number): string => file.toString('latin1', at, file.indexOf(0, at));
  const names = sections.map((s) => cString(sections[shstrndx].offset + s.nameOffset));
  const textIndex = names.indexOf('.text');
  const text = sections[textIndex];
  const code = file.subarray(text.offset, text.offset + text.size);

  const SHT_SYMTAB = 2;
  const SHT_RELA = 4;
  const symtab = sections.find((s) => s.type === SHT_SYMTAB)!;
  const strtab = sections[symtab.link];
  const symbols: { name: string; value: number; section: number }[] = [];
  for (let at = symtab.offset; at < symtab.offset + symtab.size; at += 24) {
    symbols.push({
      name: cString(strtab.offset + file.readUInt32LE(at)),
      section: file.readUInt16LE(at + 6),
      value: Number(file.readBigUInt64LE(at + 8)),
    });
  }
  const starts = new Array<number>(lines.length + 1);
  for (const s of symbols) {
    if (s.name.startsWith(MARKER) && s.section === textIndex) starts[Number(s.name.slice(MARKER.length))] = s.value;
  }

  const relocations: { offset: number; type: string; symbol: string; addend: bigint }[] = [];
  for (const rela of sections.filter((s) => s.type === SHT_RELA && s.info === textIndex)) {
    for (let at = rela.offset; at < rela.offset + rela.size; at += 24) {
      const info = file.readBigUInt64LE(at + 8);
      const typeNumber = Number(info & 0xffffffffn);
      relocations.push({
        offset: Number(file.readBigUInt64LE(at)),
        type: RELOCATION_NAMES[arch][typeNumber] ?? `R_${arch}_#${typeNumber}`,
        symbol: symbols[Number(info >> 32n)].name,
        addend: file.readBigInt64LE(at + 16),
      });
    }
  }

  return lines.map((source, i) => {
    const start = starts[i];
    const end = starts[i + 1];
    return {
      source,
      bytes: new Uint8Array(code.subarray(start, end)),
      relocations: relocations
        .filter((r) => r.offset >= start && r.offset < end)
        .map((r) => ({ ...r, offset: r.offset - start })),
    };
  });
}

/** Lowercase hex with no separators, the form tests compare encodings in. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
