import test from 'ava';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import koffi from 'koffi';
import {
  HELPER_BUILD_APT_LINE, LIBRARY_ROOT, NativeHelperError, buildIntoCache, checkoutBuildIsStale, helperCacheDir, loadNativeHelper,
  platformTag,
} from './native-helper.ts';

const load = (path: string) => koffi.load(path);

test('the library root is found from the module itself, and the checkout\'s build comes first', (t) => {
  t.true(existsSync(join(LIBRARY_ROOT, 'simulator', 'native', 'stackscope_hooks.c')));
  const { path } = loadNativeHelper(load, {});
  t.is(path, join(LIBRARY_ROOT, 'build', 'libstackscope_hooks.so'));
});

test('STACKSCOPE_NATIVE_HELPER overrides the search; a bad path is a NativeHelperError naming the apt line', (t) => {
  const built = join(LIBRARY_ROOT, 'build', 'libstackscope_hooks.so');
  t.is(loadNativeHelper(load, { STACKSCOPE_NATIVE_HELPER: built }).path, built);
  const e = t.throws(() => loadNativeHelper(load, { STACKSCOPE_NATIVE_HELPER: '/nonexistent/helper.so' }), { instanceOf: NativeHelperError });
  t.regex(e!.message, /STACKSCOPE_NATIVE_HELPER=\/nonexistent\/helper\.so/);
  t.regex(e!.message, /apt-get install libunicorn2 libunicorn-dev gcc libc6-dev/);
});

test('the per-user cache: built once from the shipped source, keyed by source hash and platform, then reused', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stackscope-cache-'));
  try {
    t.is(helperCacheDir({ STACKSCOPE_CACHE_DIR: dir }), dir);
    t.is(helperCacheDir({ XDG_CACHE_HOME: '/x' }), '/x/stackscope');
    const path = buildIntoCache({ STACKSCOPE_CACHE_DIR: dir });
    t.true(path.startsWith(dir) && path.endsWith(`-${platformTag()}-libstackscope_hooks.so`));
    t.true(existsSync(path));
    t.is(buildIntoCache({ STACKSCOPE_CACHE_DIR: dir, CC: '/nonexistent/cc' }), path, 'an existing entry is reused, no compiler needed');
    t.truthy(load(path));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('no compiler: the error says where it tried and the exact apt-get line', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stackscope-cache-'));
  try {
    const e = t.throws(() => buildIntoCache({ STACKSCOPE_CACHE_DIR: dir, CC: '/nonexistent/cc' }), { instanceOf: NativeHelperError });
    t.is(e!.aptLine, HELPER_BUILD_APT_LINE);
    t.regex(e!.message, /building one into .* with `\/nonexistent\/cc` failed/);
    t.regex(e!.message, /`apt-get install libunicorn2 libunicorn-dev gcc libc6-dev`/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a checkout build made from another C source is stale (its stamp differs from the source\'s SHA-256) and is passed over', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'stackscope-root-'));
  try {
    t.false(checkoutBuildIsStale(root), 'no stamp, no source: not known to be stale');
    mkdirSync(join(root, 'build'));
    mkdirSync(join(root, 'simulator', 'native'), { recursive: true });
    const source = 'int ss_new_function(void) { return 1; }\n';
    writeFileSync(join(root, 'simulator', 'native', 'stackscope_hooks.c'), source);
    writeFileSync(join(root, 'build', '.hooks-src'), `${createHash('sha256').update('int old;\n').digest('hex')}\n`);
    t.true(checkoutBuildIsStale(root));
    writeFileSync(join(root, 'build', '.hooks-src'), `${createHash('sha256').update(source).digest('hex')}\n`);
    t.false(checkoutBuildIsStale(root));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  // This checkout's own build is current (npm test runs scripts/setup.sh first).
  t.false(checkoutBuildIsStale(LIBRARY_ROOT));
});
