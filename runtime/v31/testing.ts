/** Test helpers of the v31 store. */
import type { Arch } from '../../isa/arch.ts';
import { readElf, SHN_UNDEF } from '../../loader/elf.ts';
import { Engine } from '../engine.ts';
import { Module } from '../module.ts';

/** A module whose `f` calls function 0, which stands for a foreign symbol (`foreignImage`). */
export const FOREIGN_WAT = `(module
  (func $stand_in (param externref))
  (func (export "f") (param $a externref) (result externref)
    (call $stand_in (local.get $a))
    (local.get $a)))`;

/** The compiled image with `wasm_func_0` renamed to `name` and made undefined. */
export async function foreignImage(arch: Arch, name: string, wat = FOREIGN_WAT): Promise<Uint8Array> {
  const engine = new Engine({ arch, profile: 'v31' });
  const elf = (await Module.fromWat(engine, wat)).image!.elf.slice();
  const parsed = readElf(elf, 'foreign.o');
  const symtab = parsed.sections.find((s) => s.name === '.symtab')!;
  const strtab = parsed.sections.find((s) => s.name === '.strtab')!;
  const sym = parsed.symbols.find((s) => s.name === 'wasm_func_0')!;
  if (name.length > 'wasm_func_0'.length) throw new RangeError('the new name must fit the old one');
  const view = new DataView(elf.buffer, elf.byteOffset);
  const entry = Number(symtab.offset) + 24 * sym.index;
  const nameAt = Number(strtab.offset) + view.getUint32(entry, true);
  elf.set([...new TextEncoder().encode(name), 0], nameAt);
  view.setUint16(entry + 6, SHN_UNDEF, true);
  view.setBigUint64(entry + 8, 0n, true);
  view.setBigUint64(entry + 16, 0n, true);
  return elf;
}

