/**
 * The generated parts of docs/wasm-subset.md: the supported instructions from the decoder's own
 * opcode tables (compiler/frontend/opcodes.ts), the instructions and proposals it names as
 * unsupported, the implementation limits, and one real error message of each kind, produced by
 * running the front end and the code generator on small inputs. scripts/gen-docs.ts fills the
 * blocks; docs/docs.test.ts fails when the page is stale.
 */
import {
  CompileError, MAX_FUNCTION_PARAMS_OR_RESULTS, MAX_LOCALS, MAX_MEMORY_PAGES, parseWasm, parseWatText,
} from '../compiler/frontend/index.ts';
import type { ValType } from '../compiler/frontend/module.ts';
import {
  FB_SIMPLE_OPS, FC_SIMPLE_OPS, IMMEDIATE_OPS, MEM_OPS, SIMPLE_OPS, UNSUPPORTED_FB_OPS, UNSUPPORTED_FC_OPS, UNSUPPORTED_OPS, UNSUPPORTED_PREFIXES,
} from '../compiler/frontend/opcodes.ts';
import { moduleBytes, oneFunction, section, uleb, vec } from '../compiler/frontend/testing.ts';
import { MAX_WAT_NESTING } from '../compiler/frontend/wat.ts';

/** Reports that a block cannot be generated (gen-docs.ts throws its GenDocsError). */
export type Fail = (block: string, reason: string) => never;

interface Row {
  readonly opcode: readonly number[];
  readonly name: string;
  readonly immediates: string;
  readonly type: string;
}

/** Types the simple-op table cannot express (its operands come from the context). */
const CONTEXT_TYPES: Readonly<Record<string, string>> = {
  unreachable: '[t1*] → [t2*]',
  return: '[t1* t*] → [t2*]',
  'ref.is_null': '[t] → [i32] (t a reference type)',
};

/** The trap codes (wasmtime's names) an instruction can raise; the rest never trap. */
const TRAPS: Record<string, string> = {
  unreachable: 'UnreachableCodeReached',
  'i32.div_s': 'IntegerDivisionByZero, IntegerOverflow',
  'i64.div_s': 'IntegerDivisionByZero, IntegerOverflow',
  call_indirect: 'TableOutOfBounds, IndirectCallToNull, BadSignature',
  return_call_indirect: 'TableOutOfBounds, IndirectCallToNull, BadSignature',
  'table.get': 'TableOutOfBounds', 'table.set': 'TableOutOfBounds', 'table.fill': 'TableOutOfBounds',
  'table.copy': 'TableOutOfBounds', 'table.init': 'TableOutOfBounds',
  'memory.fill': 'MemoryOutOfBounds', 'memory.copy': 'MemoryOutOfBounds', 'memory.init': 'MemoryOutOfBounds',
};
for (const t of ['i32', 'i64']) for (const op of ['div_u', 'rem_s', 'rem_u']) TRAPS[`${t}.${op}`] = 'IntegerDivisionByZero';
for (const op of ['struct.new', 'struct.new_default', 'array.new_fixed']) TRAPS[op] = 'AllocationTooLarge; GcHeapOutOfMemoryError (not a trap) when a collection frees too little';
for (const op of ['array.new', 'array.new_default']) TRAPS[op] = 'AllocationTooLarge; GcHeapOutOfMemoryError (not a trap) when a collection frees too little';
for (const op of ['struct.get', 'struct.get_s', 'struct.get_u', 'struct.set', 'array.len', 'i31.get_s', 'i31.get_u', 'ref.as_non_null']) TRAPS[op] = 'NullReference';
for (const op of ['array.get', 'array.get_s', 'array.get_u', 'array.set']) TRAPS[op] = 'NullReference, ArrayOutOfBounds';
TRAPS['ref.cast'] = 'CastFailure';
for (const m of MEM_OPS.values()) TRAPS[m.name] = 'MemoryOutOfBounds';
for (const t of ['i32', 'i64']) for (const f of ['f32', 'f64']) for (const s of ['s', 'u']) TRAPS[`${t}.trunc_${f}_${s}`] = 'BadConversionToInteger, IntegerOverflow';

const GROUPS: readonly [string, (r: Row) => boolean][] = [
  ['Control', (r) => r.opcode[0] <= 0x13],
  ['Reference', (r) => r.opcode[0] >= 0xd0 && r.opcode[0] <= 0xd2],
  ['Parametric', (r) => r.opcode[0] >= 0x1a && r.opcode[0] <= 0x1c],
  ['Variable', (r) => r.opcode[0] >= 0x20 && r.opcode[0] <= 0x24],
  ['Table', (r) => r.opcode[0] === 0x25 || r.opcode[0] === 0x26 || (r.opcode[0] === 0xfc && r.opcode[1] >= 12)],
  ['Memory', (r) => (r.opcode[0] >= 0x28 && r.opcode[0] <= 0x40) || (r.opcode[0] === 0xfc && r.opcode[1] >= 8 && r.opcode[1] <= 11)],
  ['Numeric', (r) => (r.opcode[0] >= 0x41 && r.opcode[0] <= 0xc4) || (r.opcode[0] === 0xfc && r.opcode[1] <= 7)],
  ['GC (profile v31 only; v17 rejects them naming the profile)', (r) => r.opcode[0] === 0xfb || r.opcode[0] === 0xd3 || r.opcode[0] === 0xd4],
];

const sig = (params: readonly ValType[], results: readonly ValType[]): string => `[${params.join(' ')}] → [${results.join(' ')}]`;
const opcodeText = (opcode: readonly number[]): string =>
  opcode.length === 1 ? `0x${opcode[0].toString(16).padStart(2, '0')}` : `0x${opcode[0].toString(16)} ${opcode[1]}`;
const code = (s: string): string => (s === '' ? '' : `\`${s}\``);
const cmp = (a: readonly number[], b: readonly number[]): number => a[0] - b[0] || (a[1] ?? -1) - (b[1] ?? -1);

function supportedRows(): Row[] {
  const rows: Row[] = [];
  for (const [op, s] of SIMPLE_OPS) rows.push({ opcode: [op], name: s.name, immediates: '', type: CONTEXT_TYPES[s.name] ?? sig(s.params, s.results) });
  for (const [sub, s] of FC_SIMPLE_OPS) rows.push({ opcode: [0xfc, sub], name: s.name, immediates: '', type: sig(s.params, s.results) });
  for (const [sub, s] of FB_SIMPLE_OPS) rows.push({ opcode: [0xfb, sub], name: s.name, immediates: '', type: sig(s.params, s.results) });
  for (const [op, m] of MEM_OPS) {
    rows.push({
      opcode: [op], name: m.name, immediates: `memarg (align ≤ ${Math.log2(m.width)}, offset)`,
      type: m.store ? sig(['i32', m.valType], []) : sig(['i32'], [m.valType]),
    });
  }
  rows.push(...IMMEDIATE_OPS);
  return rows.sort((a, b) => cmp(a.opcode, b.opcode));
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`), ''].join('\n');
}

/** The supported instructions, one table per group, in opcode order. */
function instructionsBlock(fail: Fail): string {
  const rows = supportedRows();
  const out: string[] = [`${rows.length} instructions (two encodings of \`select\` counted apart).`, ''];
  const placed = new Set<Row>();
  for (const [group, member] of GROUPS) {
    const mine = rows.filter(member);
    mine.forEach((r) => placed.add(r));
    out.push(`#### ${group} (${mine.length})`, '');
    out.push(table(['Opcode', 'Instruction', 'Immediates', 'Type', 'Traps'],
      mine.map((r) => [code(opcodeText(r.opcode)), code(r.name), r.immediates, r.type, TRAPS[r.name] ?? ''])));
  }
  const lost = rows.filter((r) => !placed.has(r));
  if (lost.length > 0) fail('subset/instructions', `no group for ${lost.map((r) => r.name).join(', ')}`);
  return out.join('\n');
}

/** The instructions the decoder names when it rejects them, and the prefixes of whole proposals. */
function unsupportedBlock(): string {
  const rows: [number[], string][] = [
    ...[...UNSUPPORTED_OPS].map(([op, name]): [number[], string] => [[op], name]),
    ...[...UNSUPPORTED_FC_OPS].map(([sub, name]): [number[], string] => [[0xfc, sub], name]),
    ...[...UNSUPPORTED_FB_OPS].map(([sub, name]): [number[], string] => [[0xfb, sub], name]),
  ].sort((a, b) => cmp(a[0], b[0]));
  const names = rows.map(([opcode, name]) => `${code(name)} (${opcodeText(opcode)})`);
  const prefixes = [...UNSUPPORTED_PREFIXES].map(([p, feature]) => `- \`0x${p.toString(16)}\` prefix: every ${feature} instruction`);
  return [
    `Named one by one (${rows.length}): ${names.join(', ')}.`,
    '',
    'Whole proposals by prefix byte:',
    '',
    ...prefixes,
    '',
  ].join('\n');
}

function limitsBlock(): string {
  return table(['Limit', 'Value', 'Error kind'], [
    ['Locals of one function (parameters excluded)', String(MAX_LOCALS), '`limit`'],
    ['Parameters, and results, of one function type', String(MAX_FUNCTION_PARAMS_OR_RESULTS), '`limit`'],
    ['Memory size (64 KiB pages)', String(MAX_MEMORY_PAGES), '`validation`'],
    ['WAT nesting depth (parentheses and unfolded blocks)', String(MAX_WAT_NESTING), '`limit`'],
  ]);
}

/** The message `fn` throws: it must be a CompileError (the example is wrong otherwise). */
function messageOf(what: string, fn: () => unknown, fail: Fail): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof CompileError) return e.message;
    throw e;
  }
  return fail('subset/errors', `the example "${what}" compiled without an error`);
}

/** One real error of each kind, from the front end or the code generator. */
function errorsBlock(fail: Fail): string {
  const memSize = (reserved: number[]) => {
    const body = [0x00, 0x3f, ...reserved, 0x1a, 0x0b];
    return moduleBytes(section(1, vec([[0x60, 0x00, 0x00]])), section(3, vec([[0x00]])), section(5, vec([[0x00, 0x01]])),
      section(10, vec([[body.length, ...body]])));
  };
  const examples: [string, () => unknown][] = [
    ['WAT `(module (func (i32.add))`', () => parseWatText('(module (func (i32.add))')],
    ['empty binary', () => parseWasm(new Uint8Array(0))],
    ['binary `memory.size` with reserved bytes `80 00`', () => parseWasm(memSize([0x80, 0x00]))],
    ['WAT `(module (func (result i32) i64.const 1))`', () => parseWatText('(module (func (result i32) i64.const 1))')],
    ['WAT with a `try` block in a function', () => parseWatText('(module\n  (func (result i32)\n    try (result i32)\n      i32.const 1\n    end))')],
    ['WAT with a `v128` global', () => parseWatText('(module (global v128 (v128.const i64x2 0 0)))')],
    ['WAT with two memories', () => parseWatText('(module (memory 1) (memory 1))')],
    [`binary with ${MAX_LOCALS + 1} locals`, () => parseWasm(oneFunction([0x0b], [[...uleb(MAX_LOCALS + 1), 0x7f]]))],
  ];
  return table(['Input', 'Message'], examples.map(([what, fn]) => [what, code(messageOf(what, fn, fail).replaceAll('|', '\\|'))]));
}

/** Every block of docs/wasm-subset.md, by id (WAT must be loaded); `fail` reports a broken generator. */
export function wasmSubsetBlocks(fail: Fail): Map<string, string> {
  return new Map([
    ['subset/instructions', instructionsBlock(fail)],
    ['subset/unsupported', unsupportedBlock()],
    ['subset/limits', limitsBlock()],
    ['subset/errors', errorsBlock(fail)],
  ]);
}
