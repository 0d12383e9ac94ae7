import { readFileSync } from 'node:fs';
import { CompileError, parseWasm, parseWat } from '../../compiler/frontend/index.ts';
import { layoutCountsOf, layoutViewOf, type LayoutCounts } from '../../compiler/profiles.ts';
import { PROFILES, type Profile } from '../../profiles/profile.ts';
import { profileFlag } from '../profile.ts';
import { moduleFromImageBytes } from '../../runtime/image-module.ts';
import { parseArgs, rejectUnknown, UsageError } from '../args.ts';
import type { Output } from '../output.ts';

export const LAYOUT_HELP = `usage: stackscope layout <module.wat | module.wasm | image.o> [--json] [--profile v17|v31|v44]
       stackscope layout --counts name=N,... [--json] [--profile v17|v31|v44]

Prints the VMContext layout of a module, or of the module a compiled image (from
'stackscope compile') was made from (pointer size 8), in the wasmtime era --profile names
(default v17; docs/profiles.md): every region's name, offset and size, the alignment padding,
each import's and definition's offset, and the total. With --profile v31 it also prints the
structs compiled code reaches (VMStoreContext, VMFuncRef, VMGcHeader, VMDrcHeader, the
externref object, the activations table), the GC heap and free-list constants, the GC kinds and
the 40 builtins, all from wasmtime v31.0.0's sources; with --profile v44 the same for wasmtime
v44.0.0 (48-byte header, VMStoreContext with its stack chain, every stack-switching struct:
VMStackChain, VMStackLimits, VMHostArray, VMCommonStackInformation, VMContObj,
VMContinuationStack, VMContRef; the 24-byte DRC header; the 58 builtins).
With --counts the layout is computed from VMOffsets' inputs directly; names are wasmtime's:
  num_imported_functions num_imported_tables num_imported_memories num_imported_globals
  num_defined_tables num_defined_memories num_owned_memories num_defined_globals
  num_escaped_funcs, and for v31 and v44 also num_imported_tags num_defined_tags
(missing names are 0; num_owned_memories defaults to num_defined_memories).
JSON: {"size": N, "regions": [{"name", "offset", "size"}], "paddings": [...], "elements": {...}}
and for v31 and v44 also "profile", "structs": [{"name", "size", "fields"}], "constants", "builtins".`;

const COUNT_NAMES: Record<string, keyof LayoutCounts> = {
  num_imported_functions: 'numImportedFunctions',
  num_imported_tables: 'numImportedTables',
  num_imported_memories: 'numImportedMemories',
  num_imported_globals: 'numImportedGlobals',
  num_defined_tables: 'numDefinedTables',
  num_defined_memories: 'numDefinedMemories',
  num_owned_memories: 'numOwnedMemories',
  num_defined_globals: 'numDefinedGlobals',
  num_escaped_funcs: 'numEscapedFuncs',
  num_imported_tags: 'numImportedTags',
  num_defined_tags: 'numDefinedTags',
};

/** Counts of eras that have no tags. */
const TAG_COUNTS: readonly (keyof LayoutCounts)[] = ['numImportedTags', 'numDefinedTags'];

function fieldsFromCounts(spec: string, profile: Profile): LayoutCounts {
  const fields: LayoutCounts = {
    numImportedFunctions: 0, numImportedTables: 0, numImportedMemories: 0, numImportedGlobals: 0,
    numDefinedTables: 0, numDefinedMemories: 0, numOwnedMemories: 0, numDefinedGlobals: 0, numEscapedFuncs: 0,
    numImportedTags: 0, numDefinedTags: 0,
  };
  let ownedGiven = false;
  for (const part of spec.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([a-z_]+)=(\d+)$/.exec(part);
    if (!m) throw new UsageError(`--counts: '${part}' is not name=N`, 'layout');
    const key = COUNT_NAMES[m[1]];
    if (!key) throw new UsageError(`--counts: unknown name '${m[1]}' (one of ${Object.keys(COUNT_NAMES).join(', ')})`, 'layout');
    if (TAG_COUNTS.includes(key) && profile.vmcontext === 'v17') throw new UsageError(`--counts: ${m[1]}: the v17 VMContext has no tags (--profile v31)`, 'layout');
    const n = Number(m[2]);
    if (!Number.isSafeInteger(n)) throw new UsageError(`--counts: ${m[1]} is too large`, 'layout');
    fields[key] = n;
    if (key === 'numOwnedMemories') ownedGiven = true;
  }
  if (!ownedGiven) fields.numOwnedMemories = fields.numDefinedMemories;
  return fields;
}

/** Compile errors name the file as given (`FILE:line:col: …` or `FILE: …`), as in every command. */
function inFile<T>(parse: () => T, path: string): T {
  try {
    return parse();
  } catch (e) {
    throw e instanceof CompileError ? e.inFile(path) : e;
  }
}

async function countsOfModule(path: string): Promise<LayoutCounts> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${(e as Error).message}`, 'layout');
  }
  let module;
  if (path.endsWith('.wat') || path.endsWith('.wast')) {
    // parseWat: stack-switching syntax (tags, continuation types) goes through Binaryen.
    try {
      module = await parseWat(bytes.toString('utf8'), { fileName: path });
    } catch (e) {
      throw e instanceof CompileError ? e.inFile(path) : e;
    }
  } else if (path.endsWith('.wasm')) {
    module = inFile(() => parseWasm(new Uint8Array(bytes)), path);
  } else if (bytes.length >= 4 && bytes.readUInt32BE(0) === 0x7f454c46) {
    // A compiled image: the runtime rebuilds the module's shape from its metadata section.
    module = moduleFromImageBytes(new Uint8Array(bytes), path).wasm;
  } else {
    throw new UsageError(`${path}: expected a .wat or .wasm module or a compiled .o image`, 'layout');
  }
  return layoutCountsOf(module);
}

export async function layoutCommand(argv: string[], out: Output): Promise<number> {
  const args = parseArgs(argv, ['counts', 'profile'], 'layout');
  rejectUnknown(args, ['counts', 'json', 'profile'], 'layout');
  const profile = profileFlag(args, 'layout');
  const counts = args.flags.get('counts');
  if (typeof counts === 'string' && args.positionals.length) throw new UsageError('give a module or --counts, not both', 'layout');
  if (typeof counts !== 'string' && args.positionals.length !== 1) throw new UsageError('give one module file or --counts', 'layout');
  const view = layoutViewOf(profile, typeof counts === 'string' ? fieldsFromCounts(counts, profile) : await countsOfModule(args.positionals[0]));
  const { regions, paddings, elements } = view;
  if (args.flags.has('json')) {
    out.json(view.structs.length === 0
      ? { size: view.size, regions, paddings, elements }
      : { profile: view.profile, size: view.size, regions, paddings, elements, structs: view.structs, constants: view.constants, builtins: view.builtins });
    return 0;
  }
  out.text(`${view.title}: ${view.size} bytes`);
  out.text(`${'offset'.padStart(8)}  ${'size'.padStart(6)}  region`);
  const rows: Array<{ offset: number; line: string }> = [
    ...regions.map((r) => ({ offset: r.offset, line: `${String(r.offset).padStart(8)}  ${String(r.size).padStart(6)}  ${r.name}` })),
    ...paddings.map((p) => ({ offset: p.offset, line: `${String(p.offset).padStart(8)}  ${String(p.size).padStart(6)}  (padding to ${p.align})` })),
  ];
  rows.sort((a, b) => a.offset - b.offset);
  for (const r of rows) out.text(r.line);
  for (const [region, list] of Object.entries(elements)) {
    for (const e of list) {
      const f = Object.entries(e.fields).map(([k, v]) => `${k}@${v}`).join(' ');
      out.text(`  ${region}[${e.index}] @ ${e.offset}${f ? `  ${f}` : ''}`);
    }
  }
  if (view.structs.length) {
    out.text('');
    out.text(`structs (wasmtime ${PROFILES[view.profile].wasmtime.release}):`);
    for (const s of view.structs) {
      const f = Object.entries(s.fields).map(([k, v]) => `${k}@${v}`).join(' ');
      out.text(`  ${s.name.padEnd(26)} ${String(s.size).padStart(3)} bytes  ${f}${s.note ? `  (${s.note})` : ''}`);
    }
    out.text('constants:');
    for (const [name, value] of Object.entries(view.constants)) out.text(`  ${name.padEnd(32)} ${value} (0x${value.toString(16)})`);
    out.text(`builtins (${view.builtins.length}, index order):`);
    for (let i = 0; i < view.builtins.length; i += 4) {
      out.text('  ' + view.builtins.slice(i, i + 4).map((name, j) => `${String(i + j).padStart(2)} ${name}`.padEnd(34)).join('').trimEnd());
    }
  }
  return 0;
}
