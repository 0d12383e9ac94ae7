import { profileFlag } from '../profile.ts';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArch } from '../../isa/arch.ts';
import { compileModule } from '../../compiler/index.ts';
import { formatListing } from '../../compiler/listing.ts';
import { CompileError, parseModuleSource } from '../../compiler/frontend/index.ts';
import { hex } from '../../isa/error.ts';
import { parseArgs, parseRegalloc, rejectUnknown, UsageError } from '../args.ts';
import type { Output } from '../output.ts';

export const COMPILE_HELP = `usage: stackscope compile <file.wat | file.wasm> --arch x64|aarch64 [-o out.o] [--print] [--json]
                         [--profile v17|v31|v44] [--regalloc none|linear-scan]

Compiles a WebAssembly module (text or binary) into an ELF64 relocatable object in the
Cranelift / wasmtime v17 conventions (docs/image-format.md). -o writes the object.
--print lists the code: text offset, bytes, disassembly, the Wasm instruction each run of code
implements, relocations, trap sites, and at each call the stack map (mapped words, bitmap with
bit 0 rightmost, and the frame slots its set bits cover).
--json prints a summary: functions (index, symbol, name, offset, size, frame size), traps and
stack maps. Exit code 2 with a located message when the module is invalid or unsupported.
--profile v17|v31|v44 is the wasmtime era to compile for (default v17; docs/profiles.md): v31 and
v44 images have 32-bit VMGcRefs, their era's DRC barriers and builtin indices, and typed user
stack maps (.stackscope.usermaps) instead of v17's bitmaps.
--regalloc chooses where values live: none (default) gives every value its own stack slot;
linear-scan keeps them in registers and spills references to slots around each call they
survive (the listing marks each spill and reload).`;

export async function compileCommand(argv: string[], out: Output): Promise<number> {
  // `-o` is accepted as a synonym of `--output`.
  const normalized = argv.map((a) => (a === '-o' ? '--output' : a));
  const args = parseArgs(normalized, ['arch', 'output', 'profile', 'regalloc'], 'compile');
  rejectUnknown(args, ['arch', 'output', 'print', 'json', 'profile', 'regalloc'], 'compile');
  const profile = profileFlag(args, 'compile');
  const regalloc = parseRegalloc(args, 'compile');
  const archName = args.flags.get('arch');
  if (typeof archName !== 'string') throw new UsageError('--arch x64|aarch64 is required', 'compile');
  const arch = parseArch(archName);
  if (!arch) throw new UsageError(`--arch: unknown architecture '${archName}' (x64 or aarch64)`, 'compile');
  if (args.positionals.length !== 1) throw new UsageError('give exactly one input file', 'compile');
  const file = args.positionals[0];
  if (!existsSync(file)) throw new UsageError(`cannot read ${file}: no such file`, 'compile');
  const output = args.flags.get('output');
  if (output === undefined && !args.flags.has('print') && !args.flags.has('json')) {
    throw new UsageError('nothing to do: give -o FILE, --print or --json', 'compile');
  }
  const source = new Uint8Array(readFileSync(file));
  let image;
  let module;
  try {
    module = await parseModuleSource(source, { fileName: file });
    image = compileModule(module, { arch, file, profile, regalloc });
  } catch (e) {
    // An invalid or unsupported module is an input error (exit code 2), reported with its location.
    if (e instanceof CompileError) {
      out.error(`stackscope compile: ${e.inFile(file).message}`);
      return 2;
    }
    throw e;
  }
  if (typeof output === 'string') {
    try {
      writeFileSync(output, image.elf);
    } catch (e) {
      throw new UsageError(`cannot write ${output}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'compile');
    }
  }
  if (args.flags.has('print')) for (const line of formatListing(image, module)) out.text(line);
  if (args.flags.has('json')) {
    out.json({
      arch,
      textSize: image.text.length,
      objectSize: image.elf.length,
      functions: image.functions.map((f) => ({
        index: f.funcIndex, symbol: f.symbol, name: f.name, offset: hex(f.textOffset), size: f.code.length, frameSize: f.frameSize,
      })),
      traps: image.traps.map((t) => ({ offset: hex(t.textOffset), function: t.funcIndex, code: t.code })),
      stackMaps: image.stackMaps.map((m) => ({
        function: m.funcIndex, kind: m.site.kind, callee: m.site.callee, callOffset: hex(m.site.callOffset),
        returnOffset: hex(m.site.returnOffset), mappedWords: m.mappedWords, bitmap: m.bitmap, liveSlots: m.site.liveSlots,
      })),
    });
  }
  return 0;
}
