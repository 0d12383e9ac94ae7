/**
 * v44 code generation: typed user stack maps at every call site; builtins by v44.0.0's indices
 * (crates/environ/src/builtin.rs: memory_grow 0, drop_gc_ref 25, table_grow_gc_ref 36,
 * table_fill_gc_ref 37); the prologue's stack limit from VMStoreContext +24 (vmctx+8 → +0x18);
 * the read barrier of table.get/global.get without any call (v44's list push inline: the heap base
 * from VMStoreContext +32, the list head through vmctx `gc_heap_data` +32), the write barrier
 * calling drop_gc_ref.
 */
import test from 'ava';
import { ARCHES } from '../../isa/arch.ts';
import { compileModule } from '../index.ts';
import { parseWat } from '../frontend/index.ts';
import { PROFILES } from '../../profiles/profile.ts';
import { createDisassembler } from '../../isa/disasm.ts';
import { v44BuiltinIndex } from './builtins.ts';
import { V44StoreContextLayout } from './vmoffsets.ts';

const WAT = `(module
  (import "env" "f" (func $f (param externref) (result externref)))
  (table $t 1 externref)
  (global $g (mut externref) (ref.null extern))
  (memory 1)
  (func (export "run") (param $a externref) (result externref)
    (table.set $t (i32.const 0) (call $f (local.get $a)))
    (global.set $g (table.get $t (i32.const 0)))
    (drop (table.grow $t (global.get $g) (i32.const 1)))
    (table.fill $t (i32.const 0) (ref.null extern) (i32.const 1))
    (drop (memory.grow (i32.const 1)))
    (local.get $a)))`;

test('the v44 builtin indices the generated code calls are v44.0.0\'s', (t) => {
  t.deepEqual(['memory_grow', 'drop_gc_ref', 'table_grow_gc_ref', 'table_fill_gc_ref'].map((n) => v44BuiltinIndex(n)), [0, 25, 36, 37]);
  t.is(v44BuiltinIndex('gc'), undefined, 'v44 has no gc libcall for the read barrier to call');
});

for (const arch of ARCHES) {
  test(`${arch}: a v44 image has a user stack map per call site and calls v44's builtins; table.get and global.get call nothing`, async (t) => {
    const image = compileModule(await parseWat(WAT), { arch, profile: PROFILES.v44 });
    const fn = image.functions[0];
    t.is(image.userStackMaps!.length, fn.callSites.length);
    const libcalls = fn.callSites.filter((s) => s.kind === 'libcall').map((s) => s.callee).sort((a, b) => a - b);
    // Two write barriers (table.set, global.set) may drop the old value; table.grow, table.fill, memory.grow.
    t.deepEqual(libcalls, [0, 25, 25, 36, 37]);
  });

  test(`${arch}: the v44 prologue reads the stack limit at VMStoreContext +24; the read barrier reads the heap base at +32 and the list head through vmctx +32`, async (t) => {
    const text = (wat: string) => createDisassembler(arch).disasm(compileModule(awaitParse(wat), { arch, profile: PROFILES.v44 }).text, 0n).map((i) => `${i.mnemonic} ${i.opStr}`).join('; ');
    const parsed = new Map<string, Awaited<ReturnType<typeof parseWat>>>();
    const awaitParse = (wat: string) => parsed.get(wat)!;
    const get = '(module (global $g (mut externref) (ref.null extern)) (func (export "f") (result externref) (global.get $g)))';
    parsed.set(get, await parseWat(get));
    const code = text(get);
    t.is(V44StoreContextLayout.stackLimit, 0x18);
    if (arch === 'x64') {
      t.regex(code, /mov r10, qword ptr \[rdi \+ 8\]; mov r10, qword ptr \[r10 \+ 0x18\]/);
      // The body keeps vmctx in a callee-saved register (r14).
      t.regex(code, /mov (\w+), qword ptr \[r14 \+ 8\]; mov \1, qword ptr \[\1 \+ 0x20\]; lea \w+, \[\1 \+ rax\]/, 'heap base: vmctx+8 → +0x20, plus the ref');
      t.regex(code, /and rax, 2; cmp eax, 0; jne \w+; mov rax, qword ptr \[r14 \+ 0x20\]; mov eax, dword ptr \[rax\]; mov dword ptr \[r10 \+ 0x10\], eax; or r11, 2; mov dword ptr \[r10\], r11d; mov rax, qword ptr \[r10 \+ 8\]; lea rax, \[rax \+ 1\]; mov qword ptr \[r10 \+ 8\], rax; mov r11, qword ptr \[r14 \+ 0x20\]; mov eax, dword ptr \[rsp\]; mov dword ptr \[r11\], eax/,
        'in-list bit clear: next = *head; obj.next = next; bits |= 2; count += 1; *head = obj');
      t.notRegex(code, /call/);
    } else {
      t.regex(code, /ldr x16, \[x0, #8\]; ldr x16, \[x16, #0x18\]/);
      t.regex(code, /ldr (x\d+), \[x19, #8\]; ldr \1, \[\1, #0x20\]; add x\d+, \1, x9/);
      t.regex(code, /and x9, x11, #2; cmp w9, #0; b\.ne #0x\w+; ldr x9, \[x19, #0x20\]; ldr w9, \[x9\]; str w9, \[x10, #0x10\]; orr x11, x11, #2; str w11, \[x10\]; ldr x9, \[x10, #8\]; add x9, x9, #1; str x9, \[x10, #8\]; ldr x11, \[x19, #0x20\]; ldr w9, \[sp\]; str w9, \[x11\]/);
      t.notRegex(code, /\bblr?\b/);
    }
  });
}
