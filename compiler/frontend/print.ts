/**
 * Text form of decoded instructions, as the text format writes them, for listings
 * (`stackscope compile --print`) and messages. With a module, calls and ref.func show the
 * callee's name.
 */
import type { BlockType, Instr, RefType, WasmModule } from './module.ts';
import { functionDisplayName, refTypeParts } from './module.ts';
import { formatFloat } from './float-bits.ts';

function blockTypeText(bt: BlockType): string {
  switch (bt.kind) {
    case 'empty': return '';
    case 'value': return ` (result ${bt.type})`;
    case 'typeIndex': return ` (type ${bt.index})`;
  }
}

/** The heap type of a nullable reference type as `ref.null` writes it: `func`, `extern`, `any`, `3`. */
function heapTypeText(t: RefType): string {
  return String(refTypeParts(t).heap);
}

/** e.g. `i32.load offset=8 align=2`, `call 3 <$fib>`, `br_table 0 1 2`, `block (result i32)`. */
export function formatInstr(instr: Instr, module?: WasmModule): string {
  const funcText = (f: number): string => (module ? `${f} <$${functionDisplayName(module, f)}>` : `${f}`);
  switch (instr.op) {
    case 'i32.const':
    case 'i64.const':
      return `${instr.op} ${instr.value}`;
    case 'f32.const':
      return `f32.const ${formatFloat('f32', BigInt(instr.bits))}`;
    case 'f64.const':
      return `f64.const ${formatFloat('f64', instr.bits)}`;
    case 'local.get':
    case 'local.set':
    case 'local.tee':
      return `${instr.op} ${instr.local}`;
    case 'global.get':
    case 'global.set':
      return `${instr.op} ${instr.global}`;
    case 'block':
    case 'loop':
    case 'if':
      return instr.op + blockTypeText(instr.blockType);
    case 'br':
    case 'br_if':
      return `${instr.op} ${instr.depth}`;
    case 'br_table':
      return `br_table ${[...instr.depths, instr.defaultDepth].join(' ')}`;
    case 'cont.new':
      return `cont.new ${instr.typeIndex}`;
    case 'suspend':
      return `suspend ${instr.tag}`;
    case 'resume':
      return `resume ${instr.typeIndex}${instr.handlers.map((h) => ` (on ${h.tag} ${h.depth})`).join('')}`;
    case 'cont.bind':
      return `cont.bind ${instr.typeIndex} ${instr.resultType}`;
    case 'switch':
      return `switch ${instr.typeIndex} ${instr.tag}`;
    case 'call':
    case 'return_call':
      return `${instr.op} ${funcText(instr.func)}`;
    case 'call_indirect':
    case 'return_call_indirect':
      return `${instr.op} ${instr.table} (type ${instr.typeIndex})`;
    case 'select':
      return instr.typed ? `select (result ${instr.type})` : 'select';
    case 'ref.null':
      return `ref.null ${heapTypeText(instr.type)}`;
    case 'ref.func':
      return `ref.func ${funcText(instr.func)}`;
    case 'table.get':
    case 'table.set':
    case 'table.size':
    case 'table.grow':
    case 'table.fill':
      return `${instr.op} ${instr.table}`;
    case 'table.copy':
      return `table.copy ${instr.dstTable} ${instr.srcTable}`;
    case 'table.init':
      return `table.init ${instr.table} ${instr.elem}`;
    case 'elem.drop':
      return `elem.drop ${instr.elem}`;
    case 'memory.init':
      return `memory.init ${instr.data}`;
    case 'data.drop':
      return `data.drop ${instr.data}`;
    case 'struct.new':
    case 'struct.new_default':
    case 'array.new':
    case 'array.new_default':
    case 'array.get':
    case 'array.get_s':
    case 'array.get_u':
    case 'array.set':
      return `${instr.op} ${instr.typeIndex}`;
    case 'struct.get':
    case 'struct.get_s':
    case 'struct.get_u':
    case 'struct.set':
      return `${instr.op} ${instr.typeIndex} ${instr.field}`;
    case 'array.new_fixed':
      return `array.new_fixed ${instr.typeIndex} ${instr.length}`;
    case 'ref.test':
    case 'ref.cast': {
      const { nullable, heap } = refTypeParts(instr.type);
      return `${instr.op} (ref ${nullable ? 'null ' : ''}${heap})`;
    }
    default:
      if ('memarg' in instr) {
        const parts: string[] = [instr.op];
        if (instr.memarg.offset !== 0) parts.push(`offset=${instr.memarg.offset}`);
        parts.push(`align=${2 ** instr.memarg.align}`);
        return parts.join(' ');
      }
      return instr.op;
  }
}
