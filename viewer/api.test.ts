import test from 'ava';
import { ARCHES } from '../isa/arch.ts';
import { hex } from '../isa/error.ts';
import {
  Engine, ExternRef, Instance, Module, Store, Func, SafepointSelectError, findSafepoint, openModule, openSession, renderFrame, selectSafepoints,
  safepointsOf, traceOpened,
} from '../index.ts';

// `down(n)` recurses n levels, each frame holding an externref across its call; the deepest
// level collects.
const WAT = `(module
  (import "env" "gc" (func $gc))
  (import "env" "new_ref" (func $new (param i32) (result externref)))
  (func $keep (param externref))
  (func $down (export "down") (param $n i32) (result i32)
    (local $r externref)
    (local.set $r (call $new (local.get $n)))
    (if (i32.eqz (local.get $n)) (then (call $gc) (return (i32.const 0))))
    (drop (call $down (i32.sub (local.get $n) (i32.const 1))))
    (call $keep (local.get $r))
    (local.get $n)))`;

const bytes = new TextEncoder().encode(WAT);

for (const arch of ARCHES) {
  test(`${arch}: findSafepoint keeps the N-th safepoint a function or an address selects`, async (t) => {
    const session = await openSession(bytes, 'down.wat', { arch });
    try {
      const { store, module, instance } = session;
      const frames = [];
      for (const nth of [1, 2, 3]) {
        const search = findSafepoint(store, module, { at: 'down', nth });
        try {
          instance.getFunc('down').call(4);
        } finally {
          search.close();
        }
        t.truthy(search.found, `nth ${nth}`);
        t.is(search.seen, nth, 'counting stops at the one kept');
        t.is(search.found!.safepoint.functionName, 'down');
        t.is(search.found!.frame.functionName, 'down');
        t.true(renderFrame(search.found!.frame, '').length > 3);
        frames.push(search.found!);
      }
      // Safepoints 1 and 2 are the calls of $new and $down in the outermost level; 3 is $new's
      // call again, one level deeper: the same call site, a frame below.
      t.is(frames[1].frame.fp, frames[0].frame.fp);
      t.not(frames[1].safepoint.callAddress, frames[0].safepoint.callAddress);
      t.is(frames[2].safepoint.callAddress, frames[0].safepoint.callAddress);
      t.true(frames[2].frame.fp < frames[0].frame.fp);
      // The same call by its code address (and by the function's index, `$` and `#` forms).
      const call = frames[0].safepoint;
      for (const at of [hex(call.callAddress), `#${call.funcIndex}`, String(call.funcIndex), '$down']) {
        const search = findSafepoint(store, module, { at });
        try {
          instance.getFunc('down').call(4);
        } finally {
          search.close();
        }
        t.is(search.found?.safepoint.callAddress, call.callAddress, at);
        t.is(search.found?.frame.fp, frames[0].frame.fp, at);
      }
      // More than the run reaches: nothing found, every match counted.
      const far = findSafepoint(store, module, { at: 'down', nth: 1000 });
      instance.getFunc('down').call(2);
      far.close();
      t.is(far.found, undefined);
      t.true(far.seen > 0 && far.seen < 1000);
      // Selectors that match nothing, and a bad nth, are typed errors naming the selector.
      const unknown = t.throws(() => findSafepoint(store, module, { at: 'up' }), { instanceOf: SafepointSelectError });
      t.regex(unknown!.message, /^up: no function of that name with a safepoint in down\.wat \(functions with safepoints: down\)$/);
      t.is((unknown as SafepointSelectError).at, 'up');
      t.throws(() => findSafepoint(store, module, { at: '0x10' }), { instanceOf: SafepointSelectError, message: /^0x10: no safepoint at or after that address/ });
      t.throws(() => findSafepoint(store, module, { at: 'down', nth: 0 }), { instanceOf: SafepointSelectError, message: /nth must be a positive integer/ });
    } finally {
      session.store.close();
    }
  });

  test(`${arch}: findSafepoint started before the code is placed (as for an example's driver)`, async (t) => {
    const engine = new Engine({ arch });
    const module = await Module.from(engine, WAT, 'down.wat');
    const unplaced = safepointsOf(module, 0n, 'down.wat');
    t.true(selectSafepoints('down', unplaced, new Map(), 'down.wat')(unplaced[0]));
    for (const at of ['down', 'nowhere']) {
      const store = await Store.create(engine);
      try {
        if (at === 'nowhere') {
          t.throws(() => findSafepoint(store, module, { at }), { instanceOf: SafepointSelectError });
          continue;
        }
        const search = findSafepoint(store, module, { at, nth: 2 });
        const imports = [
          Func.wrap(store, { params: [], results: [] }, (caller) => { caller.gc(); }),
          Func.wrap(store, { params: ['i32'], results: ['externref'] }, (_c, n) => ExternRef.new(store, `#${String(n)}`)),
        ];
        const instance = Instance.create(store, module, imports);
        instance.getFunc('down').call(3);
        search.close();
        t.is(search.found?.safepoint.functionName, 'down');
        t.is(search.seen, 2);
      } finally {
        store.close();
      }
    }
  });

  test(`${arch}: traceOpened records blocks, safepoints and the store's collections, as run --trace does`, async (t) => {
    // Opened and instantiated at once (openSession), or traced before the code is placed.
    for (const early of [false, true]) {
      const opened = early ? await openModule(bytes, 'down.wat', { arch }) : await openSession(bytes, 'down.wat', { arch });
      try {
        const tracer = traceOpened(opened, { mode: 'block', limit: 10_000 });
        const instance = early
          ? Instance.create(opened.store, opened.module, [
            Func.wrap(opened.store, { params: [], results: [] }, (caller) => { caller.gc(); }),
            Func.wrap(opened.store, { params: ['i32'], results: ['externref'] }, (_c, n) => ExternRef.new(opened.store, `#${String(n)}`)),
          ])
          : (opened as Awaited<ReturnType<typeof openSession>>).instance;
        instance.getFunc('down').call(2);
        tracer.close();
        const kinds = new Set(tracer.events.map((e) => e.type));
        t.deepEqual([...kinds].sort(), ['entry', 'gc', 'safepoint'], `early ${early}`);
        const safepoints = tracer.events.filter((e) => e.type === 'safepoint');
        t.true(safepoints.every((e) => e.frame.functionName === 'down' && e.frame.moduleName === 'down.wat'));
        const gcs = tracer.events.filter((e) => e.type === 'gc');
        t.is(gcs.length, opened.gcs.length, 'every collection of the store, once');
        t.true(gcs.some((e) => e.frames.length === 3), 'the env.gc collection walked the three frames of down');
      } finally {
        opened.store.close();
      }
    }
  });
}
