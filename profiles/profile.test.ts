/** The profile records and the capability lookup every layer uses. */
import test from 'ava';
import {
  DEFAULT_PROFILE,
  PROFILES,
  PROFILE_NAMES,
  ProfileUnsupportedError,
  UnknownProfileError,
  hasImplementation,
  implementationOf,
  profileNamed,
  resolveProfile,
  type CapabilityTable,
  type VMContextFamily,
} from './profile.ts';

test('v17 is the default; every name resolves to its frozen record', (t) => {
  t.is(DEFAULT_PROFILE, 'v17');
  t.is(profileNamed(undefined), PROFILES.v17);
  for (const name of PROFILE_NAMES) {
    t.is(profileNamed(name).name, name);
    t.true(Object.isFrozen(PROFILES[name]));
  }
  t.is(resolveProfile(PROFILES.v31), PROFILES.v31);
  t.is(resolveProfile('v31'), PROFILES.v31);
});

test('the records hold the era facts the layers consult', (t) => {
  t.like(PROFILES.v17, { gcRefBytes: 8, stackMaps: 'bitmap-words', gcHeap: 'extern-data', vmcontext: 'v17' });
  t.like(PROFILES.v31, { gcRefBytes: 4, stackMaps: 'user-typed', gcHeap: 'drc-heap', vmcontext: 'v31' });
  t.is(PROFILES.v31.wasmtime.release, '31.0.0');
  t.like(PROFILES.v44, { gcRefBytes: 4, stackMaps: 'user-typed', gcHeap: 'drc-heap-v44', vmcontext: 'v44', collector: 'v44', codegen: 'v44' });
  t.is(PROFILES.v44.wasmtime.release, '44.0.0');
});

test('unknown names are typed errors (also for non-strings and inherited keys)', (t) => {
  for (const bad of ['v45', 'V17', '', 'toString', 17, null]) {
    t.throws(() => profileNamed(bad as string), { instanceOf: UnknownProfileError });
  }
});

test('implementationOf: the layer table decides, a missing entry names what is missing', (t) => {
  const table: CapabilityTable<VMContextFamily, string> = {
    capability: 'collector',
    where: 'test layer',
    implementations: { v17: 'the v17 collector' },
    missing: { v31: 'the DRC collector' },
  };
  t.is(implementationOf(PROFILES.v17, table), 'the v17 collector');
  t.true(hasImplementation(PROFILES.v17, table));
  t.false(hasImplementation(PROFILES.v31, table));
  const e = t.throws(() => implementationOf(PROFILES.v31, table), { instanceOf: ProfileUnsupportedError });
  t.like(e, { profile: 'v31', capability: 'collector', where: 'test layer', what: 'the DRC collector' });
  t.regex(e!.message, /profile v31: test layer does not implement the DRC collector/);
});
