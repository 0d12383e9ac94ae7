import { readFileSync, existsSync } from 'node:fs';
import { parseArch } from '../../isa/arch.ts';
import { createDisassembler } from '../../isa/disasm.ts';
import { hex } from '../../isa/error.ts';
import { readElf } from '../../loader/elf.ts';
import { disassembleObject, formatObjdump } from '../../loader/objdump.ts';
import { parseArgs, parseInteger, rejectUnknown, UsageError, type ParsedArgs } from '../args.ts';
import type { Output } from '../output.ts';

export const DISASM_HELP = `usage: stackscope disasm --arch x64|aarch64 <hex bytes | file> [--base ADDR] [--json]
       stackscope disasm <file.o> [--section NAME] [--symbol NAME] [--json]

An ELF relocatable object (gcc, clang, GNU as; known by its ELF magic) is disassembled like
\`objdump -dr\`: each code section (or --section), a label at each symbol (or only --symbol's
code), instruction offsets and bytes, and each relocation below the instruction it patches.
JSON: {"file", "arch", "sections": [{"name", "symbols": [{"name", "offset", "instructions":
[{"offset", "bytes", "text", "invalid", "relocations": [{"offset", "type", "target"}]}]}]}]}

Otherwise:

Disassembles raw machine code given as hex (spaces allowed, e.g. "55 48 89 e5") or read
from a file of raw bytes. --base sets the address of the first byte (default 0).
Undecodable bytes are shown as .byte / .inst, like objdump's (bad).
JSON: {"arch": "...", "base": "0x...", "instructions": [{"address": "0x...", "bytes": "...",
"mnemonic": "...", "operands": "...", "text": "...", "invalid": false}]}`;

function isElf(path: string): boolean {
  try {
    const b = readFileSync(path).subarray(0, 4);
    return b.length === 4 && b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46;
  } catch {
    return false;
  }
}

function disasmObject(args: ParsedArgs, file: string, out: Output): number {
  if (args.flags.has('base')) throw new UsageError('--base applies to raw bytes; an object is shown at section offsets', 'disasm');
  const obj = readElf(new Uint8Array(readFileSync(file)), file);
  const archFlag = args.flags.get('arch');
  if (typeof archFlag === 'string' && parseArch(archFlag) !== obj.arch) throw new UsageError(`--arch ${archFlag}: ${file} is ${obj.arch}`, 'disasm');
  const section = args.flags.get('section');
  const symbol = args.flags.get('symbol');
  const sections = disassembleObject(obj, { ...(typeof section === 'string' ? { section } : {}), ...(typeof symbol === 'string' ? { symbol } : {}) });
  if (args.flags.has('json')) {
    out.json({
      file, arch: obj.arch,
      sections: sections.map((s) => ({
        name: s.name,
        symbols: s.symbols.map((y) => ({
          name: y.name, offset: hex(y.offset),
          instructions: y.lines.map((l) => ({ offset: hex(l.offset), bytes: Buffer.from(l.bytes).toString('hex'), text: l.text, invalid: l.invalid, relocations: l.relocations.map((r) => ({ offset: hex(r.offset), type: r.type, target: r.target })) })),
        })),
      })),
    });
  } else {
    for (const line of formatObjdump(obj, sections)) out.text(line);
  }
  return 0;
}

function parseHex(text: string): Uint8Array | undefined {
  const clean = text.replace(/0x/gi, '').replace(/[\s,]/g, '');
  if (clean.length === 0 || clean.length % 2 !== 0 || !/^[0-9a-f]+$/i.test(clean)) return undefined;
  return Uint8Array.from(clean.match(/../g)!.map((b) => parseInt(b, 16)));
}

export function disasmCommand(argv: string[], out: Output): number {
  const args = parseArgs(argv, ['arch', 'base', 'section', 'symbol'], 'disasm');
  rejectUnknown(args, ['arch', 'base', 'json', 'help', 'section', 'symbol'], 'disasm');
  if (args.flags.has('help')) {
    out.text(DISASM_HELP);
    return 0;
  }
  const first = args.positionals[0];
  if (args.positionals.length === 1 && existsSync(first) && isElf(first)) return disasmObject(args, first, out);
  for (const flag of ['section', 'symbol']) {
    if (args.flags.has(flag)) throw new UsageError(`--${flag} applies to ELF objects`, 'disasm');
  }
  const archName = args.flags.get('arch');
  if (typeof archName !== 'string') throw new UsageError('--arch x64|aarch64 is required', 'disasm');
  const arch = parseArch(archName);
  if (!arch) throw new UsageError(`unknown architecture '${archName}' (x64 or aarch64)`, 'disasm');
  const base = typeof args.flags.get('base') === 'string' ? parseInteger(args.flags.get('base') as string, '--base', 'disasm') : 0n;
  if (args.positionals.length === 0) throw new UsageError('give hex bytes or a file name', 'disasm');
  const input = args.positionals.join(' ');
  let bytes = parseHex(input);
  if (!bytes) {
    if (args.positionals.length !== 1 || !existsSync(input)) {
      throw new UsageError(`'${input}' is neither hex bytes nor a readable file`, 'disasm');
    }
    bytes = new Uint8Array(readFileSync(input));
  }
  const insns = createDisassembler(arch).disasm(bytes, base);
  if (args.flags.has('json')) {
    out.json({
      arch,
      base: hex(base),
      instructions: insns.map((i) => ({
        address: hex(i.address),
        bytes: Buffer.from(i.bytes).toString('hex'),
        mnemonic: i.mnemonic,
        operands: i.opStr,
        text: i.text,
        invalid: i.invalid === true,
      })),
    });
  } else {
    for (const i of insns) {
      out.text(`${hex(i.address).padStart(12)}:  ${Buffer.from(i.bytes).toString('hex').padEnd(22)}${i.text}`);
    }
  }
  return 0;
}
