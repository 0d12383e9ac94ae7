import { readFileSync } from 'node:fs';
import { parseWasm, parseWatText, loadWat } from '../../compiler/frontend/index.ts';
import { vmOffsetsFor } from '../../compiler/index.ts';
import { VMOffsets, type VMOffsetsFields } from '../../compiler/vmoffsets.ts';
import { moduleFromImageBytes } from '../../runtime/image-module.ts';
import { parseArgs, rejectUnknown, UsageError } from '../args.ts';
import type { Output } from '../output.ts';

export const LAYOUT_HELP = `usage: stackscope layout <module.wat | module.wasm | image.o> [--json]
       stackscope layout --counts name=N,... [--json]

Prints the wasmtime v17 VMContext layout of a module, or of the module a compiled image (from
'stackscope compile') was made from (pointer size 8): every region's name,
offset and size, the alignment padding, each import's and definition's offset, and the total.
With --counts the layout is computed from VMOffsets' inputs directly; names are wasmtime's:
  num_imported_functions num_imported_tables num_imported_memories num_imported_globals
  num_defined_tables num_defined_memories num_owned_memories num_defined_globals
  num_escaped_funcs
(missing names are 0; num_owned_memories defaults to num_defined_memories).
JSON: {"size": N, "regions": [{"name", "offset", "size"}], "paddings": [...], "elements": {...}}`;

const COUNT_NAMES: Record<string, keyof VMOffsetsFields> = {
  num_imported_functions: 'numImportedFunctions',
  num_imported_tables: 'numImportedTables',
  num_imported_memories: 'numImportedMemories',
  num_imported_globals: 'numImportedGlobals',
  num_defined_tables: 'numDefinedTables',
  num_defined_memories: 'numDefinedMemories',
  num_owned_memories: 'numOwnedMemories',
  num_defined_globals: 'numDefinedGlobals',
  num_escaped_funcs: 'numEscapedFuncs',
};

function fieldsFromCounts(spec: string): VMOffsetsFields {
  const fields: VMOffsetsFields = {
    numImportedFunctions: 0, numImportedTables: 0, numImportedMemories: 0, numImportedGlobals: 0,
    numDefinedTables: 0, numDefinedMemories: 0, numOwnedMemories: 0, numDefinedGlobals: 0, numEscapedFuncs: 0,
  };
  let ownedGiven = false;
  for (const part of spec.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([a-z_]+)=(\d+)$/.exec(part);
    if (!m) throw new UsageError(`--counts: '${part}' is not name=N`, 'layout');
    const key = COUNT_NAMES[m[1]];
    if (!key) throw new UsageError(`--counts: unknown name '${m[1]}' (one of ${Object.keys(COUNT_NAMES).join(', ')})`, 'layout');
    const n = Number(m[2]);
    if (!Number.isSafeInteger(n)) throw new UsageError(`--counts: ${m[1]} is too large`, 'layout');
    fields[key] = n;
    if (key === 'numOwnedMemories') ownedGiven = true;
  }
  if (!ownedGiven) fields.numOwnedMemories = fields.numDefinedMemories;
  return fields;
}

async function offsetsOfModule(path: string): Promise<VMOffsets> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new UsageError(`cannot read ${path}: ${(e as Error).message}`, 'layout');
  }
  let module;
  if (path.endsWith('.wat') || path.endsWith('.wast')) {
    await loadWat();
    module = parseWatText(bytes.toString('utf8'), { fileName: path });
  } else if (path.endsWith('.wasm')) {
    module = parseWasm(new Uint8Array(bytes));
  } else if (bytes.length >= 4 && bytes.readUInt32BE(0) === 0x7f454c46) {
    // A compiled image: the runtime rebuilds the module's shape from its metadata section.
    module = moduleFromImageBytes(new Uint8Array(bytes), path).wasm;
  } else {
    throw new UsageError(`${path}: expected a .wat or .wasm module or a compiled .o image`, 'layout');
  }
  return vmOffsetsFor(module);
}

export async function layoutCommand(argv: string[], out: Output): Promise<number> {
  const args = parseArgs(argv, ['counts'], 'layout');
  rejectUnknown(args, ['counts', 'json'], 'layout');
  const counts = args.flags.get('counts');
  if (typeof counts === 'string' && args.positionals.length) throw new UsageError('give a module or --counts, not both', 'layout');
  if (typeof counts !== 'string' && args.positionals.length !== 1) throw new UsageError('give one module file or --counts', 'layout');
  const offsets = typeof counts === 'string' ? new VMOffsets(fieldsFromCounts(counts)) : await offsetsOfModule(args.positionals[0]);
  const regions = offsets.regions().map((r) => ({ name: r.name, offset: r.offset, size: r.size }));
  const paddings = offsets.paddings().map((p) => ({ after: p.after, offset: p.offset, size: p.size, align: p.align }));
  const elements = offsets.elements();
  if (args.flags.has('json')) {
    out.json({ size: offsets.size, regions, paddings, elements });
    return 0;
  }
  out.text(`VMContext (wasmtime v17, pointer size 8): ${offsets.size} bytes`);
  out.text(`${'offset'.padStart(8)}  ${'size'.padStart(6)}  region`);
  const rows: Array<{ offset: number; line: string }> = [
    ...regions.map((r) => ({ offset: r.offset, line: `${String(r.offset).padStart(8)}  ${String(r.size).padStart(6)}  ${r.name}` })),
    ...paddings.map((p) => ({ offset: p.offset, line: `${String(p.offset).padStart(8)}  ${String(p.size).padStart(6)}  (padding to ${p.align})` })),
  ];
  rows.sort((a, b) => a.offset - b.offset);
  for (const r of rows) out.text(r.line);
  for (const [region, list] of Object.entries(elements)) {
    for (const e of list as Array<{ index: number; offset: number; fields: Record<string, number> }>) {
      const f = Object.entries(e.fields).map(([k, v]) => `${k}@${v}`).join(' ');
      out.text(`  ${region}[${e.index}] @ ${e.offset}${f ? `  ${f}` : ''}`);
    }
  }
  return 0;
}
