/**
 * Profiles through the public API, on both arches: v17 is the default and runs; v31 compiles v31
 * code and runs in a V31Store, never as v17 in disguise (a v17 Store refuses a v31 engine).
 */
import test from 'ava';
import { ARCHES } from '../isa/arch.ts';
import { ProfileUnsupportedError, UnknownProfileError, PROFILES } from '../profiles/profile.ts';
import { Engine } from './engine.ts';
import { Instance } from './instance.ts';
import { Module } from './module.ts';
import { Store } from './store.ts';
import { RuntimeError } from './errors.ts';
import { V31Instance, V31Store } from './v31/index.ts';
import { V44Instance, V44Store } from './v44/index.ts';

const WAT = '(module (func (export "f") (result i32) i32.const 42))';

for (const arch of ARCHES) {
  test(`${arch}: an engine without a profile is v17 and runs`, async (t) => {
    const engine = new Engine({ arch });
    t.is(engine.profile, PROFILES.v17);
    const store = await Store.create(engine);
    try {
      const module = await Module.fromWat(engine, WAT);
      t.is(Instance.create(store, module, []).getTypedFunc<[], number>('f').call(), 42);
    } finally {
      store.close();
    }
  });

  test(`${arch}: profile v17 given by name or record is the same engine`, (t) => {
    t.is(new Engine({ arch, profile: 'v17' }).profile, PROFILES.v17);
    t.is(new Engine({ arch, profile: PROFILES.v17 }).profile, PROFILES.v17);
  });

  test(`${arch}: profile v31 compiles v31 code and runs it in a V31Store; the v17 Store refuses it`, async (t) => {
    const engine = new Engine({ arch, profile: 'v31' });
    t.is(engine.profile, PROFILES.v31);
    const module = await Module.fromWat(engine, WAT);
    t.truthy(module.image!.userStackMaps, 'v31 images carry user stack maps');
    const refused = await t.throwsAsync(Store.create(engine), { instanceOf: RuntimeError });
    t.regex(refused!.message, /V31Store\.create/);
    const store = await V31Store.create(engine);
    try {
      t.is(V31Instance.create(store, module).getFunc('f').call(), 42);
    } finally {
      store.close();
    }
    await t.throwsAsync(V31Store.create(new Engine({ arch })), { instanceOf: RuntimeError, message: /Store\.create/ });
  });

  test(`${arch}: profile v44 compiles v44 code that runs in a V44Store, and only there`, async (t) => {
    const engine = new Engine({ arch, profile: 'v44' });
    t.is(engine.profile, PROFILES.v44);
    const module = await Module.fromWat(engine, WAT);
    t.truthy(module.code.userStackMaps, 'v44 images carry user stack maps');
    const refused = await t.throwsAsync(Store.create(engine), { instanceOf: RuntimeError });
    t.regex(refused!.message, /V44Store\.create/);
    await t.throwsAsync(V31Store.create(engine), { instanceOf: RuntimeError, message: /V44Store\.create/ });
    const store = await V44Store.create(engine);
    try {
      t.is(V44Instance.create(store, module).getFunc('f').call(), 42);
    } finally {
      store.close();
    }
    await t.throwsAsync(V44Store.create(new Engine({ arch, profile: 'v31' })), { instanceOf: RuntimeError, message: /V31Store\.create/ });
  });
}

test('an unknown profile is an UnknownProfileError from the Engine', (t) => {
  t.throws(() => new Engine({ arch: 'x64', profile: 'v45' as 'v17' }), { instanceOf: UnknownProfileError });
});

test('the package root exports the profiles, the v31 pieces and their errors (all StackscopeErrors)', async (t) => {
  const root = await import('../index.ts');
  t.is(root.PROFILES.v31.name, 'v31');
  t.is(typeof root.v31.DrcHeap, 'function');
  t.is(typeof root.v31.V31Collector, 'function');
  t.is(root.v31.GC_HEAP_CAPACITY, 524_288);
  t.is(typeof root.V31Store.create, 'function');
  t.is(typeof root.v44.Drc44Heap, 'function');
  t.is(typeof root.v44.V44Collector, 'function');
  t.is(root.v44.VMContRefLayout.size, 136);
  t.is(typeof root.V44Store.create, 'function');
  t.is(root.V44Instance, root.V31Instance, 'the DRC-era handles serve both stores');
  for (const E of [
    root.ProfileUnsupportedError, root.UnknownProfileError, root.FreeListLayoutError, root.FreeListDeallocError, root.HostDataError,
    root.ActivationsTableCorruptError, root.AllocationTooLargeError, root.DrcRefError, root.DrcRootError, root.NoGcScopeError,
    root.UserStackMapRegistryError, root.V31StackWalkError, root.V44StackWalkError, root.GcHeapOutOfMemoryError, root.V31DestructorError, root.V31SafepointSelectError, root.OverApproximatedListError,
  ]) t.true(E.prototype instanceof root.StackscopeError, E.name);
});
