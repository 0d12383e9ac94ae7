/**
 * Test helpers of the v44 stack-switching tests: a store with one instance of a WAT module whose
 * imports `env.make` (an externref with a destructor), `env.probe` (runs the next queued check)
 * and `env.gc` (an explained collection) are provided, and what the collections held.
 */
import type { Arch } from '../../isa/arch.ts';
import type { RegallocMode } from '../../compiler/regalloc/modes.ts';
import { Engine } from '../engine.ts';
import { Module } from '../module.ts';
import { V44ExternRef, V44Func, V44Instance, V44Store, type V44GcReport, type V44Val } from './index.ts';

export interface World {
  store: V44Store;
  inst: V44Instance;
  gcs: V44GcReport[];
  probes: (() => void)[];
  destroyed: unknown[];
  call(name: string, ...args: V44Val[]): unknown;
}

/** `source`: WAT text, or the bytes of an image compiled for `arch` (`Module.fromImage`). */
export async function world(arch: Arch, source: string | Uint8Array, regalloc: RegallocMode = 'none', extra: Record<string, V44Func> = {}): Promise<World> {
  const engine = new Engine({ arch, profile: 'v44', regalloc });
  const module = typeof source === 'string' ? await Module.fromWat(engine, source) : Module.fromImage(engine, source);
  const store = await V44Store.create(engine);
  const gcs: V44GcReport[] = [];
  const probes: (() => void)[] = [];
  const destroyed: unknown[] = [];
  const funcs: Record<string, V44Func> = {
    make: V44Func.new(store, { params: ['i32'], results: ['externref'] }, (_c, n) => V44ExternRef.new(store, `item ${String(n)}`, (v) => destroyed.push(v))),
    probe: V44Func.new(store, { params: [], results: [] }, () => probes.shift()?.()),
    gc: V44Func.new(store, { params: [], results: [] }, () => void gcs.push(store.gc({ explain: true }))),
    ...extra,
  };
  const inst = V44Instance.create(store, module, module.wasm.imports.map((i) => funcs[i.name]));
  return { store, inst, gcs, probes, destroyed, call: (name, ...args) => inst.getFunc(name).call(...args) };
}

export const held = (r: V44GcReport): string[] => r.explanation!.frames.flatMap((f) => f.entries.flatMap((e) => (typeof e.target === 'object' ? [`${r.explanation!.stacks[f.stack].role}:${String(e.target.hostValue)}`] : [])));
