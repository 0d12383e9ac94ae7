import { readFileSync, existsSync } from 'node:fs';
import { parseArch } from '../../isa/arch.ts';
import { createDisassembler } from '../../isa/disasm.ts';
import { hex } from '../../isa/error.ts';
import { parseArgs, parseInteger, rejectUnknown, UsageError } from '../args.ts';
import type { Output } from '../output.ts';

export const DISASM_HELP = `usage: stackscope disasm --arch x64|aarch64 <hex bytes | file> [--base ADDR] [--json]

Disassembles raw machine code given as hex (spaces allowed, e.g. "55 48 89 e5") or read
from a file of raw bytes. --base sets the address of the first byte (default 0).
Undecodable bytes are shown as .byte / .inst, like objdump's (bad).
JSON: {"arch": "...", "base": "0x...", "instructions": [{"address": "0x...", "bytes": "...",
"mnemonic": "...", "operands": "...", "text": "...", "invalid": false}]}`;

function parseHex(text: string): Uint8Array | undefined {
  const clean = text.replace(/0x/gi, '').replace(/[\s,]/g, '');
  if (clean.length === 0 || clean.length % 2 !== 0 || !/^[0-9a-f]+$/i.test(clean)) return undefined;
  return Uint8Array.from(clean.match(/../g)!.map((b) => parseInt(b, 16)));
}

export function disasmCommand(argv: string[], out: Output): number {
  const args = parseArgs(argv, ['arch', 'base'], 'disasm');
  rejectUnknown(args, ['arch', 'base', 'json', 'help'], 'disasm');
  if (args.flags.has('help')) {
    out.text(DISASM_HELP);
    return 0;
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
