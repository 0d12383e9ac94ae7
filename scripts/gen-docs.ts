/**
 * Regenerates the code-derived parts of the teaching documents (docs/layouts.md,
 * docs/stack-maps.md, docs/gc.md) and of docs/wasm-subset.md (scripts/wasm-subset-doc.ts) so
 * they cannot drift from the code.
 *
 * A document keeps its hand-written prose; each generated part sits between two markers,
 *
 *   <!-- gen-docs:begin ID -->
 *   ...generated...
 *   <!-- gen-docs:end ID -->
 *
 * and this script replaces what is between them with the block called ID. Layout tables come
 * from compiler/vmoffsets.ts (the structs' layout objects and `VMOffsets` for a few module
 * shapes); listings, frame dumps and GC reports come from compiling and running small .wat
 * programs on the simulator on both arches. Everything generated must be a pure function of
 * the code: nothing time- or host-dependent (a GC report's duration is zeroed). The SVG
 * pictures of real frames (viewer/frame-svg.ts) are whole generated files under docs/img/,
 * checked the same way.
 *
 * Usage: `node --import tsx scripts/gen-docs.ts` rewrites stale documents;
 * `--check` only reports them and exits 1 when one is stale. docs/docs.test.ts runs the check.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Arch } from '../isa/arch.ts';
import { StackscopeError, hex } from '../isa/error.ts';
import { BUILTIN_FUNCTIONS } from '../compiler/builtins.ts';
import { loadWat, parseWatText } from '../compiler/frontend/index.ts';
import { StackMapIndex, compileModule, formatListing, vmOffsetsFor, type CompiledImage, type ImageStackMap } from '../compiler/index.ts';
import {
  VMExternDataLayout, VMExternRefActivationsTableLayout, VMFuncRefLayout, VMFunctionImportLayout,
  VMGlobalDefinitionLayout, VMGlobalImportLayout, VMHostFuncContextLayout, VMMemoryDefinitionLayout,
  VMMemoryImportLayout, VMOffsets, VMRuntimeLimitsLayout, VMSharedSignatureIndexLayout, VMTableDefinitionLayout,
  VMTableImportLayout, ValRawLayout, type VMOffsetsFields,
} from '../compiler/vmoffsets.ts';
import type { GcReport } from '../gc/collector.ts';
import { GcInvariantError } from '../gc/errors.ts';
import { renderExplanation, reportToJson, type ExplainedFrame, type GcExplanation } from '../gc/explain.ts';
import { Engine, ExternRef, Func, Instance, Module, Store } from '../runtime/api.ts';
import { storeInternals } from '../runtime/store.ts';
import { frameSvg } from '../viewer/frame-svg.ts';
import { frameRecord, type FrameRecord } from '../viewer/record.ts';
import { frameFromExplained, slotNamerFor } from '../viewer/trace.ts';
import { wasmSubsetBlocks } from './wasm-subset-doc.ts';

/** The documents this script maintains, relative to the repository root. */
export const GENERATED_DOCS = ['docs/layouts.md', 'docs/stack-maps.md', 'docs/gc.md', 'docs/wasm-subset.md'] as const;

const ARCHES: readonly Arch[] = ['x64', 'aarch64'];

/** A document and its generated blocks disagree in a way regeneration cannot fix. */
export class GenDocsError extends StackscopeError {
  override name = 'GenDocsError';
  constructor(
    readonly file: string,
    readonly block: string | undefined,
    readonly reason: string,
  ) {
    super(`${file}${block ? ` block ${block}` : ''}: ${reason}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Markers.

const BEGIN = /<!-- gen-docs:begin ([a-z0-9/-]+) -->\n/g;

/**
 * Replaces every marked region of `markdown` with its block. Throws GenDocsError for a begin
 * marker without its end marker and for an id that has no block; returns the ids it used.
 */
export function fillBlocks(file: string, markdown: string, blocks: ReadonlyMap<string, string>): { text: string; used: string[] } {
  const used: string[] = [];
  let out = '';
  let at = 0;
  BEGIN.lastIndex = 0;
  for (let m = BEGIN.exec(markdown); m !== null; m = BEGIN.exec(markdown)) {
    const id = m[1];
    const endMarker = `<!-- gen-docs:end ${id} -->`;
    const bodyStart = m.index + m[0].length;
    const end = markdown.indexOf(endMarker, bodyStart);
    if (end < 0) throw new GenDocsError(file, id, `no "${endMarker}" after the begin marker`);
    const block = blocks.get(id);
    if (block === undefined) throw new GenDocsError(file, id, 'no generator produces this block');
    out += markdown.slice(at, bodyStart) + block + (block.endsWith('\n') ? '' : '\n');
    at = end;
    BEGIN.lastIndex = end + endMarker.length;
    used.push(id);
  }
  return { text: out + markdown.slice(at), used };
}

// ---------------------------------------------------------------------------------------------
// Small formatting helpers.

const fence = (lines: readonly string[], lang = 'text'): string => ['```' + lang, ...lines, '```', ''].join('\n');
const dec = (n: number): string => String(n);
const off = (n: number): string => `${n} (0x${n.toString(16)})`;

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
    '',
  ].join('\n');
}

/** Two text columns, left padded to its widest line. */
function sideBySide(leftTitle: string, left: readonly string[], rightTitle: string, right: readonly string[]): string[] {
  const width = Math.max(40, leftTitle.length, ...left.map((l) => l.length));
  const rows = Math.max(left.length, right.length);
  const out = [`${leftTitle.padEnd(width)}  │ ${rightTitle}`, `${'─'.repeat(width)}──┼─${'─'.repeat(Math.max(40, rightTitle.length, ...right.map((l) => l.length)))}`];
  for (let i = 0; i < rows; i++) out.push(`${(left[i] ?? '').padEnd(width)}  │ ${right[i] ?? ''}`.trimEnd());
  return out;
}

// ---------------------------------------------------------------------------------------------
// layouts.md

interface FieldDoc {
  /** Key in the layout object (its offset). */
  key: string;
  /** v17's Rust field name. */
  rust: string;
  type: string;
  note: string;
}

interface StructDoc {
  name: string;
  layout: Readonly<Record<string, number>>;
  /** Layout keys that are sizes or counts, not field offsets. */
  meta: readonly string[];
  fields: readonly FieldDoc[];
  /** Total size when the layout object has no `size` (host-only fields follow). */
  sizeNote?: string;
}

const STRUCTS: readonly StructDoc[] = [
  {
    name: 'VMRuntimeLimits', layout: VMRuntimeLimitsLayout, meta: ['size'],
    fields: [
      { key: 'stackLimit', rust: 'stack_limit', type: 'usize', note: 'lowest SP Wasm may use; all ones until the host enters Wasm. Every prologue compares against it.' },
      { key: 'fuelConsumed', rust: 'fuel_consumed', type: 'i64', note: 'fuel counter (compiled code adds to it when fuel is on)' },
      { key: 'epochDeadline', rust: 'epoch_deadline', type: 'u64', note: 'epoch at which compiled code calls new_epoch' },
      { key: 'lastWasmExitFp', rust: 'last_wasm_exit_fp', type: 'usize', note: 'FP of the youngest Wasm frame when Wasm called out (exit trampolines, libcall stubs)' },
      { key: 'lastWasmExitPc', rust: 'last_wasm_exit_pc', type: 'usize', note: 'return address into that frame: the first PC the walker looks up' },
      { key: 'lastWasmEntrySp', rust: 'last_wasm_entry_sp', type: 'usize', note: 'SP of the host-to-Wasm trampoline; the walk of one activation stops at an FP at or above it' },
    ],
  },
  {
    name: 'VMFuncRef', layout: VMFuncRefLayout, meta: ['size', 'typeIndexSize'],
    fields: [
      { key: 'nativeCall', rust: 'native_call', type: 'fn ptr', note: 'entry with the platform ABI' },
      { key: 'arrayCall', rust: 'array_call', type: 'fn ptr', note: 'entry taking a ValRaw buffer' },
      { key: 'wasmCall', rust: 'wasm_call', type: 'fn ptr, nullable', note: 'entry with the Wasm (`fast`) convention; call_indirect jumps here' },
      { key: 'typeIndex', rust: 'type_index', type: 'u32', note: 'engine-wide signature id; call_indirect compares it (u32::MAX = none)' },
      { key: 'vmctx', rust: 'vmctx', type: '*mut VMOpaqueContext', note: 'callee vmctx passed in the first argument register' },
    ],
  },
  {
    name: 'VMFunctionImport', layout: VMFunctionImportLayout, meta: ['size'],
    fields: [
      { key: 'wasmCall', rust: 'wasm_call', type: 'fn ptr', note: 'first, unlike VMFuncRef: the hot path of a call to an import' },
      { key: 'nativeCall', rust: 'native_call', type: 'fn ptr', note: '' },
      { key: 'arrayCall', rust: 'array_call', type: 'fn ptr', note: '' },
      { key: 'vmctx', rust: 'vmctx', type: '*mut VMOpaqueContext', note: 'the exporter\'s vmctx (or a host-function context)' },
    ],
  },
  {
    name: 'VMTableImport', layout: VMTableImportLayout, meta: ['size'],
    fields: [
      { key: 'from', rust: 'from', type: '*mut VMTableDefinition', note: 'the owner\'s definition' },
      { key: 'vmctx', rust: 'vmctx', type: '*mut VMContext', note: 'the owner\'s vmctx' },
    ],
  },
  {
    name: 'VMMemoryImport', layout: VMMemoryImportLayout, meta: ['size', 'indexSize'],
    fields: [
      { key: 'from', rust: 'from', type: '*mut VMMemoryDefinition', note: 'the owner\'s definition' },
      { key: 'vmctx', rust: 'vmctx', type: '*mut VMContext', note: 'the owner\'s vmctx' },
      { key: 'index', rust: 'index', type: 'u32 DefinedMemoryIndex', note: 'runtime only; compiled code never reads it' },
    ],
  },
  {
    name: 'VMGlobalImport', layout: VMGlobalImportLayout, meta: ['size'],
    fields: [{ key: 'from', rust: 'from', type: '*mut VMGlobalDefinition', note: 'globals never move, so a pointer suffices' }],
  },
  {
    name: 'VMTableDefinition', layout: VMTableDefinitionLayout, meta: ['size', 'currentElementsSize'],
    fields: [
      { key: 'base', rust: 'base', type: '*mut u8', note: 'elements: 8-byte VMFuncRef* (bit 0 = initialised) or VMExternData*' },
      { key: 'currentElements', rust: 'current_elements', type: 'u32', note: 'bounds of table.get/set and call_indirect' },
    ],
  },
  {
    name: 'VMMemoryDefinition', layout: VMMemoryDefinitionLayout, meta: ['size'],
    fields: [
      { key: 'base', rust: 'base', type: '*mut u8', note: 'byte 0 of linear memory' },
      { key: 'currentLength', rust: 'current_length', type: 'AtomicUsize', note: 'bytes; every access is checked against it' },
    ],
  },
  {
    name: 'VMGlobalDefinition', layout: VMGlobalDefinitionLayout, meta: ['size', 'align'],
    fields: [{ key: 'storage', rust: 'storage', type: '[u8; 16]', note: 'i32 in the low 4 bytes; i64, externref, funcref in the low 8; 16-aligned' }],
  },
  {
    name: 'VMExternData', layout: VMExternDataLayout, meta: ['size'],
    fields: [
      { key: 'refCount', rust: 'ref_count', type: 'AtomicUsize', note: 'what compiled code changes with `lock add` / an exclusive-load loop' },
      { key: 'valuePtr', rust: 'value_ptr', type: 'NonNull<dyn Any> (fat)', note: 'points back at the boxed host value, which sits before this struct in the same allocation' },
    ],
  },
  {
    name: 'VMExternRefActivationsTable', layout: VMExternRefActivationsTableLayout, meta: ['slotSize', 'chunkSlots'],
    fields: [
      { key: 'next', rust: 'alloc.next', type: '*mut TableElem', note: 'bump finger: compiled code stores a ref at *next and adds 8' },
      { key: 'end', rust: 'alloc.end', type: '*mut TableElem', note: 'one past the chunk; next == end sends compiled code to activations_table_insert_with_gc' },
      { key: 'chunk', rust: 'alloc.chunk', type: 'Box<[TableElem]> (fat)', note: 'the slots (runtime only)' },
    ],
    sizeNote: `the over-approximated and precise sets follow (host side only). One chunk = ${VMExternRefActivationsTableLayout.chunkSlots} slots of ${VMExternRefActivationsTableLayout.slotSize} bytes.`,
  },
  {
    name: 'VMArrayCallHostFuncContext / VMNativeCallHostFuncContext', layout: VMHostFuncContextLayout, meta: ['size'],
    fields: [
      { key: 'magic', rust: 'magic', type: 'u32', note: '"ACHF" or "NCHF", where a VMContext has "core"' },
      { key: 'funcRef', rust: 'func_ref', type: 'VMFuncRef', note: 'inline; its vmctx points back at this context' },
      { key: 'hostState', rust: 'host_state', type: 'Box<dyn Any> (fat)', note: 'the host closure' },
    ],
  },
];

/** Byte size of a field: an explicit `<key>Size`, the gap to the next field, or to the end. */
function structRows(s: StructDoc): string[][] {
  const documented = new Set([...s.fields.map((f) => f.key), ...s.meta]);
  for (const key of Object.keys(s.layout)) {
    if (!documented.has(key)) throw new GenDocsError('docs/layouts.md', 'layouts/structs', `${s.name}.${key} is in compiler/vmoffsets.ts but not documented by scripts/gen-docs.ts`);
  }
  const total = s.layout.size;
  const sorted = [...s.fields].sort((a, b) => s.layout[a.key] - s.layout[b.key]);
  const rows: string[][] = [];
  let cursor = 0;
  sorted.forEach((f, i) => {
    const at = s.layout[f.key];
    if (at === undefined) throw new GenDocsError('docs/layouts.md', 'layouts/structs', `${s.name}.${f.key} no longer exists in compiler/vmoffsets.ts`);
    if (at > cursor) rows.push([dec(cursor), dec(at - cursor), '', '(padding)', '']);
    const next = i + 1 < sorted.length ? s.layout[sorted[i + 1].key] : total;
    const explicit = s.layout[`${f.key}Size`];
    const size = explicit ?? (next !== undefined ? next - at : f.key === 'chunk' ? 16 : undefined);
    rows.push([dec(at), size === undefined ? '?' : dec(size), `\`${f.rust}\``, f.type, f.note]);
    cursor = at + (size ?? 0);
  });
  if (total !== undefined && cursor < total) rows.push([dec(cursor), dec(total - cursor), '', '(padding)', '']);
  return rows;
}

function structsBlock(): string {
  const parts: string[] = [];
  for (const s of STRUCTS) {
    const total = s.layout.size;
    parts.push(`### ${s.name}${total !== undefined ? ` (${total} bytes${s.layout.align ? `, align ${s.layout.align}` : ''})` : ''}`, '');
    parts.push(table(['offset', 'size', 'field', 'type', 'what it is for'], structRows(s)));
    if (s.sizeNote) parts.push(`Beyond the bump area: ${s.sizeNote}`, '');
  }
  parts.push(`Also fixed: \`ValRaw\` (one array-call argument or result) is ${ValRawLayout.size} bytes, and a ` +
    `\`VMSharedSignatureIndex\` (one entry of the array \`signature_ids\` points at) is ${VMSharedSignatureIndexLayout.size} bytes.`, '');
  return parts.join('\n');
}

const SHAPES: ReadonlyArray<{ title: string; wat?: string; fields?: VMOffsetsFields }> = [
  { title: 'An empty module', wat: '(module)' },
  { title: 'The stack-map tutorial\'s module (one imported function, one escaped function)', wat: 'TUTORIAL' },
  {
    title: 'One of everything',
    wat: `(module
  (import "env" "log" (func $log (param i32)))
  (import "env" "tick" (func $tick))
  (import "env" "refs" (table 4 externref))
  (import "env" "mem" (memory 1))
  (import "env" "base" (global i32))
  (table $fns 2 funcref)
  (table $objs 8 externref)
  (global $count (mut i32) (i32.const 0))
  (global $last (mut externref) (ref.null extern))
  (func $run (export "run") (call $tick))
  (elem (table $fns) (i32.const 0) func $run))`,
  },
  {
    title: 'Counts only: two defined memories, one of them shared (it gets a pointer slot but no inline definition)',
    fields: {
      numImportedFunctions: 0, numImportedTables: 0, numImportedMemories: 0, numImportedGlobals: 0,
      numDefinedTables: 0, numDefinedMemories: 2, numOwnedMemories: 1, numDefinedGlobals: 1, numEscapedFuncs: 0,
    },
  },
];

const FIELD_LABELS: ReadonlyArray<[keyof VMOffsetsFields, string]> = [
  ['numImportedFunctions', 'num_imported_functions'], ['numImportedTables', 'num_imported_tables'],
  ['numImportedMemories', 'num_imported_memories'], ['numImportedGlobals', 'num_imported_globals'],
  ['numDefinedTables', 'num_defined_tables'], ['numDefinedMemories', 'num_defined_memories'],
  ['numOwnedMemories', 'num_owned_memories'], ['numDefinedGlobals', 'num_defined_globals'],
  ['numEscapedFuncs', 'num_escaped_funcs'],
];

function shapeBlock(title: string, wat: string | undefined, o: VMOffsets): string {
  const parts: string[] = [`### ${title}`, ''];
  if (wat !== undefined) parts.push(fence(wat.split('\n'), 'wat'));
  const f = o.fields();
  parts.push(`Counts: ${FIELD_LABELS.map(([k, n]) => `${n} ${f[k]}`).join(', ')}.`, '');
  const rows: string[][] = [];
  const pads = new Map(o.paddings().map((p) => [p.after, p] as const));
  for (const r of o.regions()) {
    rows.push([off(r.offset), `\`${r.name}\``, r.count === 1 && r.elementSize === r.size && !['imported_functions', 'imported_tables', 'imported_memories', 'imported_globals', 'defined_tables', 'defined_memories', 'owned_memories', 'defined_globals', 'func_refs'].includes(r.name) ? '' : `${r.count} × ${r.elementSize}`, dec(r.size)]);
    const p = pads.get(r.name);
    if (p) rows.push([off(p.offset), `(pad to ${p.align})`, '', dec(p.size)]);
  }
  rows.push([off(o.size), '**end** = `size_of_vmctx`', '', '']);
  parts.push(table(['offset', 'region', 'count × element', 'bytes'], rows));
  return parts.join('\n');
}

function headerBlock(): string {
  const o = new VMOffsets({
    numImportedFunctions: 0, numImportedTables: 0, numImportedMemories: 0, numImportedGlobals: 0,
    numDefinedTables: 0, numDefinedMemories: 0, numOwnedMemories: 0, numDefinedGlobals: 0, numEscapedFuncs: 0,
  });
  expectProse('docs/layouts.md', o.vmctxStore() === 40 && o.vmctxBuiltinFunctions() === 56, 'store is 16 bytes wide, so builtin_functions is at 56 and not at 48');
  expectProse('docs/layouts.md', o.paddings().length === 2 && o.paddings()[0].after === 'magic', 'padding only after the magic and before the globals');
  const rows: Array<[number, string, string, string]> = [
    [o.vmctxMagic(), 'magic', 'u32', '"core" (0x65726f63); 4 bytes of padding follow'],
    [o.vmctxRuntimeLimits(), 'runtime_limits', '*const VMRuntimeLimits', 'the store\'s limits: every prologue loads stack_limit through it'],
    [o.vmctxCallee(), 'callee', '*const VMFunctionBody', 'null after instantiation'],
    [o.vmctxEpochPtr(), 'epoch_ptr', '*const AtomicU64', 'the engine\'s epoch counter'],
    [o.vmctxExternrefActivationsTable(), 'externref_activations_table', '*mut VMExternRefActivationsTable', 'the store\'s table: compiled code bumps `next` through it'],
    [o.vmctxStore(), 'store', '*mut dyn Store (fat, 16 bytes)', 'data word, then vtable word'],
    [o.vmctxBuiltinFunctions(), 'builtin_functions', '*mut VMBuiltinFunctionsArray', 'libcalls: entry `i` is at `[builtin_functions] + 8·i`'],
    [o.vmctxSignatureIdsArray(), 'signature_ids', '*const VMSharedSignatureIndex', 'module signature index → engine-wide id (u32 each)'],
  ];
  return table(['offset', 'field', 'type', 'meaning'], rows.map(([a, n, t, m]) => [dec(a), `\`${n}\``, t, m])) +
    `\nThe header is ${o.vmctxImportedFunctionsBegin()} bytes for every module; an empty module's VMContext is ${o.size} bytes.\n`;
}

function builtinsBlock(): string {
  return table(['index', 'entry', 'builtin', 'parameters after vmctx', 'result'], BUILTIN_FUNCTIONS.map((b) => [
    dec(b.index), `+${b.index * 8}`, `\`${b.name}\``,
    b.params.slice(1).map((p) => `${p.name}: ${p.kind}`).join(', ') || '–', b.result ?? '–',
  ]));
}

// ---------------------------------------------------------------------------------------------
// stack-maps.md: the tutorial program, compiled and run on both arches.

export const TUTORIAL_WAT = `(module
  (import "host" "gc" (func $gc))
  ;; Holds $x across the call: the only thing that keeps "apple" alive is this frame.
  (func $inner (param $x externref) (result externref)
    call $gc
    local.get $x)
  ;; At the call to $inner, $b is still needed afterwards, $a was passed on and $c is never
  ;; used again: only $b's slot is marked in this call's stack map.
  (func $outer (export "outer") (param $a externref) (param $b externref) (param $c externref) (result externref)
    local.get $a
    call $inner
    drop
    local.get $b))`;

interface TutorialRun {
  arch: Arch;
  image: CompiledImage;
  /** The frames the collector walked, as viewer/ draws them (SVG pictures in the docs). */
  frames: FrameRecord[];
  listing: string[];
  explanation: GcExplanation;
  result: unknown;
  /** The instance's VMContext address. */
  vmctx: bigint;
}

/** Compiles TUTORIAL_WAT, calls outer("apple", "banana", "cherry") and collects inside $gc. */
async function runTutorial(arch: Arch): Promise<TutorialRun> {
  const engine = new Engine({ arch });
  const store = await Store.create(engine);
  try {
    const module = await Module.fromWat(engine, TUTORIAL_WAT, 'tutorial.wat');
    const image = module.image;
    if (!image) throw new GenDocsError('docs/stack-maps.md', undefined, 'the tutorial module has no compiled image');
    let cherry: ExternRef | undefined;
    let explanation: GcExplanation | undefined;
    const gc = Func.wrap(store, { params: [], results: [] }, () => {
      // The host drops its own handle on "cherry": from now on only the activations table
      // (and a stack slot no map marks) holds it.
      cherry!.release();
      explanation = store.collector.collect({ reason: 'host', explain: true }).explanation;
    });
    const instance = Instance.create(store, module, [gc]);
    const apple = ExternRef.new(store, 'apple');
    const banana = ExternRef.new(store, 'banana');
    cherry = ExternRef.new(store, 'cherry');
    const back = instance.getFunc('outer').call(apple, banana, cherry) as ExternRef;
    if (!explanation) throw new GenDocsError('docs/stack-maps.md', undefined, 'the tutorial ran no collection');
    const result = back.value;
    for (const h of [apple, banana, back]) h.release();
    const frames = pictureFrames(arch, explanation, image, store.textBaseOf(module)!);
    return { arch, image, frames, listing: formatListing(image, module.wasm), explanation: stable(explanation), result, vmctx: instance.vmctx };
  } finally {
    store.close();
  }
}

/** The walked frames with slot names from the compiler's layout, ready for frameSvg. */
function pictureFrames(arch: Arch, e: GcExplanation, image: CompiledImage, textBase: bigint): FrameRecord[] {
  const namer = slotNamerFor(image, textBase);
  return e.frames.map((f) => frameRecord(frameFromExplained(arch, f, namer)));
}

/** A generated picture: the file it lives in (under docs/img/) and the markdown that shows it. */
function picture(name: string, frame: FrameRecord, title: string, files: Map<string, string>): string {
  const path = `docs/img/${name}.svg`;
  // Where each marked reference points: its host value, from what the collector read.
  const targets = new Map(frame.words.filter((w) => w.isRef && w.value && w.gcRead?.startsWith('root ')).map((w) => [w.value!, w.gcRead!.replace(/^root \S+ = /, '').replace(/ \(in table\)$/, '')]));
  files.set(path, frameSvg(frame, { title, targets }) + '\n');
  return `![${title}](img/${name}.svg)`;
}

/** The explanation without its one non-deterministic number. */
function stable(e: GcExplanation): GcExplanation {
  return { ...e, summary: { ...e.summary, durationMs: 0 } };
}

function functionOf(image: CompiledImage, name: string) {
  const fn = image.functions.find((f) => f.name === name);
  if (!fn) throw new GenDocsError('docs/stack-maps.md', undefined, `no function $${name} in the tutorial image`);
  return fn;
}

/** Compact frame diagram from the walker's view (one column of the side-by-side dump). */
function frameColumn(f: ExplainedFrame): string[] {
  const lines = [`${f.functionName}+${hex(f.pcOffset ?? 0)}`, `  fp ${hex(f.fp)}  sp ${f.sp === undefined ? '?' : hex(f.sp)}`];
  if (!f.map) return [...lines, '  (no map)'];
  lines.push(`  ${f.map.mappedWords} words × 8 = ${f.frameSize} bytes`, `  bits (sp first) ${f.map.bits}`);
  lines.push(`  fp+8   ${pad(f.returnAddress === undefined ? '?' : hex(f.returnAddress), 10)} return address`);
  lines.push(`  fp+0   ${pad(f.callerFp === undefined ? '?' : hex(f.callerFp), 10)} caller's fp`);
  for (let i = f.map.words.length - 1; i >= 0; i--) {
    const w = f.map.words[i];
    const note = w.isRef ? `bit ${w.bit} REF ${w.hostValue ?? (w.value === 0n ? 'null' : '')}` : `bit ${w.bit}`;
    lines.push(`  ${pad(`sp+${w.bit * 8}`, 6)} ${pad(w.value === undefined ? '??' : hex(w.value), 10)} ${note}`);
  }
  return lines;
}

function pad(s: string, n: number): string {
  return s.padEnd(n);
}

function factsTable(runs: readonly TutorialRun[]): string {
  const rows: string[][] = [];
  const cell = (fn: (r: TutorialRun) => string) => runs.map(fn);
  const siteOf = (r: TutorialRun, name: string): ImageStackMap => {
    const fn = functionOf(r.image, name);
    const m = r.image.stackMaps.find((s) => s.funcIndex === fn.funcIndex);
    if (!m) throw new GenDocsError('docs/stack-maps.md', undefined, `$${name} has no call site`);
    return m;
  };
  for (const name of ['inner', 'outer']) {
    rows.push([`\`$${name}\` frame size`, ...cell((r) => `${functionOf(r.image, name).frameSize} bytes`)]);
    rows.push([`\`$${name}\`: the call`, ...cell((r) => {
      const m = siteOf(r, name);
      return `${m.site.kind} at +${hex(m.site.callOffset)}, ${m.site.returnOffset - m.site.callOffset} bytes`;
    })]);
    rows.push([`\`$${name}\`: return address (map key)`, ...cell((r) => {
      const m = siteOf(r, name);
      return `+${hex(m.site.returnOffset)} (.text+${hex(m.textReturnOffset)})`;
    })]);
    rows.push([`\`$${name}\`: bitmap (u32 words)`, ...cell((r) => {
      const m = siteOf(r, name);
      return `mapped_words ${m.mappedWords}, u32 words ${[...m.bitmap].map((w) => '0x' + w.toString(16).padStart(8, '0')).join(' ')}`;
    })]);
  }
  for (const [i, label] of [[0, 'youngest'], [1, 'next']] as const) {
    rows.push([`GC: ${label} frame FP / SP`, ...cell((r) => {
      const f = r.explanation.frames[i];
      return `${hex(f.fp)} / ${f.sp === undefined ? '?' : hex(f.sp)}`;
    })]);
  }
  return table(['', ...runs.map((r) => r.arch)], rows);
}

function lookupTable(runs: readonly TutorialRun[]): string {
  const describe = (r: TutorialRun, m: ImageStackMap | undefined): string => {
    if (!m) return 'none';
    const fn = r.image.functions.find((f) => f.funcIndex === m.funcIndex)!;
    return `$${fn.name}'s map (${m.mappedWords} words)`;
  };
  const rows: string[][] = [];
  for (const r of runs) {
    const index = new StackMapIndex(r.image);
    const inner = functionOf(r.image, 'inner');
    const outer = functionOf(r.image, 'outer');
    const outerSite = r.image.stackMaps.find((s) => s.funcIndex === outer.funcIndex)!;
    const firstInstr = outer.instrOffsets.find((x) => x >= 0)!;
    const queries: Array<[string, number]> = [
      [`return address in $inner`, inner.textOffset + r.image.stackMaps.find((s) => s.funcIndex === inner.funcIndex)!.site.returnOffset],
      [`return address in $outer`, outerSite.textReturnOffset],
      [`a PC in $outer before its call (body start)`, outer.textOffset + firstInstr],
    ];
    for (const [what, at] of queries) {
      rows.push([r.arch, `${what}: .text+${hex(at)}`, describe(r, index.exact(at)), describe(r, index.nearestPreceding(at)),
        describe(r, index.nearestPreceding(at, { functionStartMarkers: false }))]);
    }
  }
  return table(['arch', 'queried PC', 'v17 exact', 'v0.22 nearest preceding, with function-start markers', 'nearest preceding, no markers'], rows);
}

/**
 * The hand-written prose around the generated blocks states facts about them (which slot is
 * marked, what is freed, where the walk stops). These checks make the generator fail, naming the
 * statement, when a code change makes one of them false, so the prose cannot drift either.
 */
function expectProse(file: string, holds: boolean, statement: string): void {
  if (!holds) throw new GenDocsError(file, undefined, `the prose says "${statement}", which is no longer true: revise the text`);
}

function checkTutorialProse(r: TutorialRun): void {
  const file = 'docs/stack-maps.md';
  const e = r.explanation;
  const [inner, outer] = e.frames;
  expectProse(file, e.frames.length === 2 && inner?.functionName === 'inner' && outer?.functionName === 'outer', 'two Wasm frames, $inner then $outer');
  const marked = (f: ExplainedFrame) => f.map?.words.filter((w) => w.isRef).map((w) => `${w.bit}:${w.hostValue}`).join(',');
  expectProse(file, marked(inner) === '1:"apple"', `$inner's map marks only bit 1 ([sp+8], $x = "apple")`);
  expectProse(file, marked(outer) === '2:"banana"', `$outer's map marks only bit 2 ([sp+16], $b = "banana")`);
  expectProse(file, e.freed.length === 1 && e.freed[0].value === '"cherry"', 'only "cherry" is freed');
  expectProse(file, functionOf(r.image, 'inner').frameSize === 32 && functionOf(r.image, 'outer').frameSize === 48, 'frames of 32 and 48 bytes');
  expectProse(file, inner.fp + 16n === outer.sp, "the callee's FP + 16 is the caller's SP at the call");
  const entrySp = e.activations[0].entrySp;
  expectProse(file, outer.callerFp !== undefined && outer.callerFp - entrySp === (r.arch === 'x64' ? 16n : 0n), "$outer's saved FP is 16 bytes above the entry SP on x86-64 and equal to it on AArch64");
  expectProse(file, r.image.offsets.vmctxVmfunctionImportWasmCall(0) === 0x48 && r.image.offsets.vmctxVmfunctionImportVmctx(0) === 0x60, 'the import is called through [vmctx + 0x48] with the callee vmctx from [vmctx + 0x60]');
  const w = (f: ExplainedFrame, bit: number) => f.map?.words[bit]?.value;
  expectProse(file, w(inner, 2) === r.vmctx, "$inner's [sp+16] is the saved r14 / x19, $outer's vmctx");
  expectProse(file, w(outer, 0) === w(outer, 1) && w(outer, 1) === e.roots.find((x) => x.value === '"apple"')?.ref && w(outer, 3) === e.freed[0].ref,
    "$outer's [sp+0] and [sp+8] hold \"apple\", [sp+24] holds \"cherry\"");
}

function walkArithmetic(runs: readonly TutorialRun[]): string {
  const rows = runs.map((r) => {
    const [inner, outer] = r.explanation.frames;
    return [r.arch,
      `${hex(inner.fp)} − ${inner.map!.mappedWords}·8 = ${hex(inner.sp!)}`,
      `${hex(inner.fp)} + 16 = ${hex(inner.fp + 16n)}`,
      `${hex(outer.fp)} − ${outer.map!.mappedWords}·8 = ${hex(outer.sp!)}`,
      `${hex(outer.callerFp!)} ≥ ${hex(r.explanation.activations[0].entrySp)}`];
  });
  return table(['arch', "$inner's SP = FP − mapped_words·8", "$inner's FP + 16 (caller's SP at the call)", "$outer's SP = FP − mapped_words·8", "$outer's saved FP ≥ entry SP: stop"], rows);
}

// ---------------------------------------------------------------------------------------------
// gc.md: a collection with entries in every part of the activations table.

export const GC_WAT = `(module
  (import "host" "gc" (func $gc))
  (table $t 3 externref)
  (func (export "fill") (param externref externref externref)
    (table.set $t (i32.const 0) (local.get 0))
    (table.set $t (i32.const 1) (local.get 1))
    (table.set $t (i32.const 2) (local.get 2)))
  (func (export "churn") (param $arg externref) (result externref)
    (local $keep externref)
    ;; table.get puts each reference it reads into the bump chunk (with a count).
    (local.set $keep (table.get $t (i32.const 0)))
    (drop (table.get $t (i32.const 1)))
    ;; The table lets go of slots 1 and 2: slot 1's object is still held by its bump-chunk
    ;; entry, slot 2's object by nothing at all, so drop_externref frees it at once.
    (table.set $t (i32.const 1) (ref.null extern))
    (table.set $t (i32.const 2) (ref.null extern))
    call $gc
    local.get $keep))`;

interface GcExampleRun {
  text: string;
  /** The report's counters as JSON (duration zeroed, explanation left out). */
  json: string;
  /** The message of the debug check that caught a forged root. */
  invariantMessage: string;
  result: unknown;
  frames: FrameRecord[];
  /** Whether "blue" was still allocated when the collection started. */
  blueLiveAtGc: boolean;
}

/**
 * fill(red, green, blue); store.gc() (outside Wasm: sweeps fill's argument entries and gives the
 * table its 512-slot chunk); churn(yellow), whose $gc import collects with the explanation on
 * after the host dropped its own handle on "yellow".
 */
async function runGcExample(arch: Arch): Promise<GcExampleRun> {
  const engine = new Engine({ arch });
  const store = await Store.create(engine);
  try {
    const module = await Module.fromWat(engine, GC_WAT, 'gc-example.wat');
    let report: GcReport | undefined;
    let yellow: ExternRef | undefined;
    let bluePtr = 0n;
    let blueLiveAtGc = true;
    let invariantMessage = '';
    const gc = Func.wrap(store, { params: [], results: [] }, () => {
      yellow!.release();
      blueLiveAtGc = storeInternals(store).externRefHeap.isLive(bluePtr);
      report = store.collector.collect({ reason: 'host', explain: true });
      // Then forge a root: put an object the activations table has never seen into the marked
      // slot, as a wrong stack map or a corrupt frame would, and let the debug check catch it.
      const slot = report.explanation!.roots[0].sites[0].slot;
      const saved = store.machine.readU64(slot);
      const stranger = ExternRef.new(store, 'stranger');
      store.machine.writeU64(slot, stranger.pointer);
      try {
        store.collector.collect({ reason: 'host' });
      } catch (e) {
        if (!(e instanceof GcInvariantError)) throw e;
        invariantMessage = `${e.name}: ${e.message}`;
      } finally {
        store.machine.writeU64(slot, saved);
        stranger.release();
      }
    });
    const instance = Instance.create(store, module, [gc]);
    const refs = ['red', 'green', 'blue'].map((v) => ExternRef.new(store, v));
    bluePtr = refs[2].pointer;
    instance.getFunc('fill').call(...refs);
    // The host keeps none of them: the Wasm table (and, until the next sweep, the activations
    // table's entries for fill's arguments) hold the counts now.
    for (const r of refs) r.release();
    store.gc();
    yellow = ExternRef.new(store, 'yellow');
    const back = instance.getFunc('churn').call(yellow) as ExternRef;
    const explanation = report?.explanation;
    if (!report || !explanation) throw new GenDocsError('docs/gc.md', undefined, 'the GC example ran no collection');
    const result = back.value;
    back.release();
    checkGcProse(explanation, blueLiveAtGc, result);
    expectProse('docs/gc.md', invariantMessage.includes('root-not-in-table'), 'the forged root is caught by the root-not-in-table check');
    const { explanation: _omitted, ...counters } = reportToJson({ ...report, durationMs: 0 }) as Record<string, unknown>;
    const frames = pictureFrames(arch, explanation, module.image!, store.textBaseOf(module)!);
    return { text: renderExplanation(stable(explanation)), json: JSON.stringify(counters, null, 2), invariantMessage, result, frames, blueLiveAtGc };
  } finally {
    store.close();
  }
}

// ---------------------------------------------------------------------------------------------

function checkGcProse(e: GcExplanation, blueLiveAtGc: boolean, result: unknown): void {
  const file = 'docs/gc.md';
  expectProse(file, e.frames.length === 1 && e.frames[0].functionName === 'churn', 'one Wasm frame, churn');
  const words = e.frames[0].map?.words ?? [];
  expectProse(file, words.length === 6 && words.filter((w) => w.isRef).map((w) => `${w.bit}:${w.hostValue}`).join(',') === '3:"red"', 'the map covers 6 words and marks bit 3 ([sp+24], $keep = "red")');
  expectProse(file, words[2]?.hostValue === undefined && words[2]?.inTable === true && words[0]?.value === 2n, '[sp+16] is the dead $arg (a table entry, unmarked) and [sp+0] holds the i32 2');
  expectProse(file, e.roots.length === 1 && e.roots[0].value === '"red"' && e.roots[0].countAfter === 2, 'one root, "red", count after 2');
  expectProse(file, e.tableBefore.bumpEntries.length === 3 && e.tableBefore.overApproximated.length === 0, 'before: three chunk entries, empty over-approximated set');
  expectProse(file, e.tableAfter.bumpEntries.length === 0 && e.tableAfter.overApproximated.length === 1 && e.tableAfter.overApproximated[0] === e.roots[0].ref, 'after: empty chunk, over-approximated set = {red}');
  expectProse(file, e.freed.map((f) => `${f.value}/${f.from}`).join(',') === '"yellow"/chunk,"green"/chunk', '"yellow" and "green" are freed from chunk slots');
  expectProse(file, !blueLiveAtGc && result === 'red', '"blue" was freed by drop_externref before the collection; churn returns "red"');
}

/**
 * Every generated block, by id, and every generated file (the SVG pictures), by path.
 * Compiles and runs the examples on both arches (about 1 s).
 */
export async function generateBlocks(): Promise<{ blocks: Map<string, string>; files: Map<string, string> }> {
  await loadWat();
  const blocks = new Map<string, string>();
  const files = new Map<string, string>();

  // layouts.md
  blocks.set('layouts/header', headerBlock());
  blocks.set('layouts/structs', structsBlock());
  blocks.set('layouts/builtins', builtinsBlock());
  blocks.set('layouts/shapes', SHAPES.map((s) => {
    const wat = s.wat === 'TUTORIAL' ? TUTORIAL_WAT : s.wat;
    const o = wat !== undefined ? vmOffsetsFor(parseWatText(wat)) : new VMOffsets(s.fields!);
    return shapeBlock(s.title, wat, o);
  }).join('\n'));

  // stack-maps.md
  const runs: TutorialRun[] = [];
  for (const arch of ARCHES) runs.push(await runTutorial(arch));
  for (const r of runs) checkTutorialProse(r);
  expectProse('docs/stack-maps.md', runs.every((r) => r.explanation.frames.every((f, i) => f.fp === runs[0].explanation.frames[i].fp && f.sp === runs[0].explanation.frames[i].sp)),
    'the stack addresses are identical on both arches');
  blocks.set('stack-maps/walk', walkArithmetic(runs));
  blocks.set('stack-maps/source', fence(TUTORIAL_WAT.split('\n'), 'wat'));
  for (const r of runs) blocks.set(`stack-maps/listing-${r.arch}`, fence(r.listing));
  for (const r of runs) {
    const wasm = parseWatText(TUTORIAL_WAT);
    blocks.set(`stack-maps/listing-linear-scan-${r.arch}`, fence(formatListing(compileModule(wasm, { arch: r.arch, regalloc: 'linear-scan' }), wasm)));
  }
  blocks.set('stack-maps/facts', factsTable(runs));
  const [x, a] = runs;
  const frames: string[] = [];
  for (let i = 0; i < Math.max(x.explanation.frames.length, a.explanation.frames.length); i++) {
    if (i > 0) frames.push('');
    frames.push(...sideBySide(`x64 frame ${i}`, x.explanation.frames[i] ? frameColumn(x.explanation.frames[i]) : [],
      `aarch64 frame ${i}`, a.explanation.frames[i] ? frameColumn(a.explanation.frames[i]) : []));
  }
  blocks.set('stack-maps/frames', fence(frames));
  for (const r of runs) blocks.set(`stack-maps/report-${r.arch}`, fence(renderExplanation(r.explanation).trimEnd().split('\n')));
  blocks.set('stack-maps/result', `outer returned ${runs.map((r) => `${JSON.stringify(r.result)} on ${r.arch}`).join(' and ')}.\n`);
  blocks.set('stack-maps/lookups', lookupTable(runs));
  const pictures = (i: number, fn: string) => runs.map((r) => picture(`stack-maps-${r.arch}-${fn}`, r.frames[i], `${r.arch}: $${fn}'s frame at the GC (fp ${r.frames[i].fp}, sp ${r.frames[i].sp})`, files));
  blocks.set('stack-maps/pictures', table(['x86-64', 'AArch64'], [pictures(0, 'inner'), pictures(1, 'outer')]));

  // gc.md
  blocks.set('gc/source', fence(GC_WAT.split('\n'), 'wat'));
  const gcPictures: string[] = [];
  for (const arch of ARCHES) {
    const g = await runGcExample(arch);
    gcPictures.push(picture(`gc-${arch}-churn`, g.frames[0], `${arch}: churn's frame as the collector walked it`, files));
    if (arch === 'x64') {
      blocks.set('gc/report', fence(g.text.trimEnd().split('\n')) +
        `\nchurn returned ${JSON.stringify(g.result)}; "blue" was ${g.blueLiveAtGc ? 'still allocated' : 'already freed (by drop_externref)'} when the collection started.\n`);
      blocks.set('gc/json', fence(g.json.split('\n'), 'json'));
      blocks.set('gc/invariant', fence([g.invariantMessage]));
    }
    else blocks.set('gc/report-aarch64-summary', fence(g.text.split('\n').slice(0, 1)));
  }
  blocks.set('gc/pictures', table(['x86-64', 'AArch64'], [gcPictures]));

  // wasm-subset.md
  for (const [id, block] of wasmSubsetBlocks((id, reason) => { throw new GenDocsError('docs/wasm-subset.md', id, reason); })) blocks.set(id, block);
  return { blocks, files };
}

export interface DocStatus {
  file: string;
  current: string;
  expected: string;
}

/** The committed and the regenerated text of every maintained document and picture. */
export async function checkDocs(root: string = repoRoot()): Promise<DocStatus[]> {
  const { blocks, files } = await generateBlocks();
  const unused = new Set(blocks.keys());
  const out: DocStatus[] = [];
  for (const file of GENERATED_DOCS) {
    const current = readFileSync(join(root, file), 'utf8');
    const { text, used } = fillBlocks(file, current, blocks);
    for (const id of used) unused.delete(id);
    out.push({ file, current, expected: text });
  }
  if (unused.size > 0) throw new GenDocsError([...unused].map((id) => id.split('/')[0]).join(', '), [...unused].join(', '), 'generated blocks that no document has markers for');
  for (const [file, expected] of files) {
    const path = join(root, file);
    out.push({ file, current: existsSync(path) ? readFileSync(path, 'utf8') : '', expected });
  }
  return out;
}

export function repoRoot(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..');
}

async function main(argv: readonly string[]): Promise<number> {
  const check = argv.includes('--check');
  const root = repoRoot();
  let stale = 0;
  for (const d of await checkDocs(root)) {
    if (d.current === d.expected) continue;
    stale++;
    if (check) process.stdout.write(`${d.file} is stale: run node --import tsx scripts/gen-docs.ts\n`);
    else {
      mkdirSync(dirname(join(root, d.file)), { recursive: true });
      writeFileSync(join(root, d.file), d.expected);
      process.stdout.write(`updated ${d.file}\n`);
    }
  }
  return check && stale > 0 ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main(process.argv.slice(2));
}
