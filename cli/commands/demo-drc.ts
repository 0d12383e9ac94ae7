/**
 * `stackscope demo --profile v31` (and v44): the teaching example examples/recursion-gc run in
 * a DRC-era store instead of a v17 one. The same module and the same story — each level of
 * `descend` keeps its externref in a local across the recursive call, the host collects at the
 * bottom — with what differs printed as that era's collector explains it: 32-bit VMGcRefs in
 * typed user stack maps at SP offsets, reference counts in the GC heap's headers, the
 * activations table of u32 refs (gc/drc, gc/drc44).
 */
import type { Arch } from '../../isa/arch.ts';
import type { WasmModule } from '../../compiler/frontend/module.ts';
import type { RegallocMode } from '../../compiler/regalloc/modes.ts';
import { compileModule } from '../../compiler/index.ts';
import type { Profile } from '../../profiles/profile.ts';
import { Engine } from '../../runtime/engine.ts';
import { Module } from '../../runtime/module.ts';
import { V31ExternRef, V31Func, V31Instance, type V31Table } from '../../runtime/v31/instance.ts';
import { createDrcStore, type DrcGcReport } from '../../runtime/v31/session.ts';
import { renderDrcGc } from './run-v31.ts';

/** Runs the example on `arch` in a store of `profile`'s era, printing as it goes (`levels` as the v17 driver's). */
export async function runRecursionGcDrc(o: { arch: Arch; profile: Profile; regalloc?: RegallocMode; wasm: WasmModule; file: string; levels: number; print: (line?: string) => void }): Promise<void> {
  const { arch, print, levels } = o;
  const image = compileModule(o.wasm, { arch, file: o.file, profile: o.profile, regalloc: o.regalloc });
  const descend = image.functions.find((f) => f.name === 'descend');
  const maps = image.userStackMaps?.filter((m) => m.funcIndex === descend?.funcIndex) ?? [];
  print(`compiled (${o.profile.name}): ${image.elf.length}-byte ELF image, ${image.functions.length} function${image.functions.length === 1 ? '' : 's'}, .text ${image.text.length} bytes; ` +
    `descend: ${descend?.frameSize ?? '?'}-byte frame, ${maps.length} call sites with user stack maps (${maps.map((m) => m.entries.length).join(', ')} entries)`);
  const engine = new Engine({ arch, profile: o.profile, ...(o.regalloc ? { regalloc: o.regalloc } : {}) });
  const gcs: DrcGcReport[] = [];
  const store = await createDrcStore(engine, gcs);
  try {
    const module = Module.fromImage(engine, image.elf, o.file.replace(/\.wat$/, '.o'));
    const gc = V31Func.new(store, { params: [], results: [] }, function gc() {
      print(`host gc(): Wasm depth ${store.wasmDepth}, collecting with explain`);
      const report = store.gc({ explain: true });
      print((renderDrcGc(report) ?? '').replace(/\n$/, ''));
    });
    const check = V31Func.new(store, { params: ['i32', 'externref'], results: [] }, function check(_caller, n, ref) {
      const r = ref as V31ExternRef | null;
      print(`check(${n as number}): frame still holds ${r === null ? 'null' : JSON.stringify(r.value)} (count ${r === null ? 0 : store.gcHeap.refCount(r.raw)})`);
    });
    const instance = V31Instance.create(store, module, [gc, check]);
    const held = instance.getTable('held') as V31Table;
    const temps = instance.getTable('temps') as V31Table;
    for (let i = 0; i < levels; i++) {
      // The table takes its own count; the host's handle is released, so the table is the only holder.
      for (const [table, text] of [[held, `held by level ${i}`], [temps, `temporary of level ${i}`]] as const) {
        const h = V31ExternRef.new(store, text);
        table.set(i, BigInt(h.raw));
        h.release();
      }
    }
    print(`descend(${levels - 1}) on ${arch}`);
    const result = instance.getFunc('descend').call(levels - 1);
    print(`descend returned ${result as number}`);
    const after = store.gc();
    print(`back in the host, store.gc(): ${after.preciseRoots.length} precise roots, ${after.freed.length} freed`);
  } finally {
    store.close();
  }
}
