/**
 * v31 code generation: images carry typed user stack maps (one i32 entry per live reference
 * slot, the frame size of the function) and no bitmap records; the barriers call v31's builtins
 * by v31's indices (crates/environ/src/builtin.rs: drop_gc_ref 25, gc 26, table_grow_gc_ref 36,
 * table_fill_gc_ref 37); the prologue reads the stack limit from VMStoreContext (vmctx+8 → +16);
 * and v17 images are unchanged (scripts/codegen-fingerprint.ts covers them byte for byte).
 */
import test from 'ava';
import { ARCHES } from '../../isa/arch.ts';
import { compileModule } from '../index.ts';
import { parseWat } from '../frontend/index.ts';
import { readUserStackMaps, SECTION_USER_STACKMAPS } from '../user-stackmaps.ts';
import { readElf } from '../../loader/elf.ts';
import { readStackMaps } from '../image-reader.ts';
import { SECTION_STACKMAPS } from '../image.ts';
import { PROFILES } from '../../profiles/profile.ts';
import { REGALLOC_MODES } from '../function.ts';
import { v31BuiltinIndex } from './builtins.ts';
import { createDisassembler } from '../../isa/disasm.ts';

const WAT = `(module
  (import "env" "f" (func $f (param externref) (result externref)))
  (table $t 1 externref)
  (global $g (mut externref) (ref.null extern))
  (func (export "run") (param $a externref) (param $b externref) (result externref)
    (table.set $t (i32.const 0) (call $f (local.get $a)))
    (global.set $g (table.get $t (i32.const 0)))
    (drop (table.grow $t (global.get $g) (i32.const 1)))
    (table.fill $t (i32.const 0) (ref.null extern) (i32.const 1))
    (drop (call $f (local.get $b)))
    (local.get $a)))`;

test('the v31 builtin indices the barriers call are v31.0.0\'s', (t) => {
  t.is(v31BuiltinIndex('drop_gc_ref'), 25);
  t.is(v31BuiltinIndex('gc'), 26);
  t.is(v31BuiltinIndex('table_grow_gc_ref'), 36);
  t.is(v31BuiltinIndex('table_fill_gc_ref'), 37);
});

for (const arch of ARCHES) {
  for (const regalloc of REGALLOC_MODES) {
    test(`${arch} ${regalloc}: a v31 image has typed user stack maps for every call site and no bitmap records`, async (t) => {
      const module = await parseWat(WAT);
      const image = compileModule(module, { arch, profile: PROFILES.v31, regalloc });
      const elf = readElf(image.elf, 'v31.o');
      const section = (name: string) => elf.sections.find((s) => s.name === name)!.data;
      t.is(readStackMaps(section(SECTION_STACKMAPS)).length, 0);
      const maps = readUserStackMaps(section(SECTION_USER_STACKMAPS));
      t.deepEqual(maps, image.userStackMaps);
      const fn = image.functions[0];
      t.is(maps.length, fn.callSites.length);
      const kinds = fn.callSites.map((s) => (s.kind === 'libcall' ? `libcall ${s.callee}` : s.kind));
      t.deepEqual(kinds.filter((k) => k.startsWith('libcall')).sort(), ['libcall 25', 'libcall 25', 'libcall 26', 'libcall 26', 'libcall 36', 'libcall 37'].sort());
      for (const [i, m] of maps.entries()) {
        t.is(m.frameSize, fn.frameSize);
        t.true(m.entries.every((e) => e.type === 'i32' && e.offset % 8 === 0 && e.offset + 4 <= m.frameSize));
        t.deepEqual(m.entries.map((e) => e.offset), [...fn.callSites[i].liveSlots]);
      }
      // $a is live across every call (it is the result); $b until the second call of $f.
      t.true(maps.every((m) => m.entries.length >= 1));
    });
  }

  test(`${arch}: the v31 prologue loads the stack limit through VMStoreContext (+16), v17's through VMRuntimeLimits (+0)`, async (t) => {
    const module = await parseWat('(module (func (export "f")))');
    const text = (profile?: typeof PROFILES.v31) => createDisassembler(arch).disasm(compileModule(module, { arch, ...(profile ? { profile } : {}) }).text, 0n)
      .slice(0, 6).map((i) => `${i.mnemonic} ${i.opStr}`).join('; ');
    if (arch === 'x64') {
      t.regex(text(PROFILES.v31), /mov r10, qword ptr \[rdi \+ 8\]; mov r10, qword ptr \[r10 \+ 0x10\]/);
      t.regex(text(), /mov r10, qword ptr \[rdi \+ 8\]; mov r10, qword ptr \[r10\]/);
    } else {
      t.regex(text(PROFILES.v31), /ldr x16, \[x0, #8\]; ldr x16, \[x16, #0x10\]/);
      t.regex(text(), /ldr x16, \[x0, #8\]; ldr x16, \[x16\]/);
    }
  });
}
