import test from 'ava';
import { ARCHES } from '../isa/arch.ts';
import { cli, scratchFile } from './testing.ts';

// `run --invoke` with float arguments and results, as docs/cli.md describes them.
const WAT = scratchFile('floats.wat', `(module
  (import "env" "print_f64" (func $print_f64 (param f64)))
  (import "env" "print_f32" (func $print_f32 (param f32)))
  (func (export "square") (param f64) (result f64) (local.get 0) (call $print_f64 (local.get 0)) (local.get 0) f64.mul)
  (func (export "half") (param f32) (result f32) (call $print_f32 (local.get 0)) (f32.mul (local.get 0) (f32.const 0.5)))
  (func (export "div") (param f64 f64) (result f64) (f64.div (local.get 0) (local.get 1)))
  (func (export "bits") (param f32) (result i32) (i32.reinterpret_f32 (local.get 0)))
  (func (export "nan") (result f32) (f32.const -nan:0x200001))
  (func (export "same") (param f32) (result f32) (local.get 0))
  (func (export "nan64") (result f64) (f64.const nan:0x8000000000123))
  (func (export "toInt") (param f64) (result i32) (i32.trunc_f64_s (local.get 0))))`);

for (const arch of ARCHES) {
  test(`${arch}: run --invoke takes float arguments and prints float results as the spec tests spell them`, async (t) => {
    const square = await cli('run', WAT, '--arch', arch, '--invoke', 'square', '2.5');
    t.is(square.code, 0, square.stderr);
    t.regex(square.stdout, /^print_f64: 2\.5\nresult: 6\.25 \(f64\)/);
    const half = await cli('run', WAT, '--arch', arch, '--invoke', 'half', '0.1');
    t.regex(half.stdout, /print_f32: 0\.1\nresult: 0\.05 \(f32\)/);
    t.regex((await cli('run', WAT, '--arch', arch, '--invoke', 'div', '1', '-0')).stdout, /result: -inf \(f64\)/);
    t.regex((await cli('run', WAT, '--arch', arch, '--invoke', 'div', '0', '0')).stdout, /result: -?nan \(f64\)/);
    t.regex((await cli('run', WAT, '--arch', arch, '--invoke', 'div', '0x1.8p1', 'inf')).stdout, /result: 0 \(f64\)/);
    t.regex((await cli('run', WAT, '--arch', arch, '--invoke', 'bits', '-0')).stdout, /result: -2147483648 \(i32\)/);
    t.regex((await cli('run', WAT, '--arch', arch, '--invoke', 'bits', '1e-45')).stdout, /result: 1 \(i32\)/);
    const json = JSON.parse((await cli('run', WAT, '--arch', arch, '--invoke', 'nan', '--json')).stdout);
    // Numeric signatures go through Func.callRaw: even an f32 signalling NaN keeps its bits.
    t.deepEqual(json.result, { type: 'f32', value: '-nan:0x200001' });
    t.regex((await cli('run', WAT, '--arch', arch, '--invoke', 'same', 'nan:0x1')).stdout, /result: nan:0x1 \(f32\)/);
    t.regex((await cli('run', WAT, '--arch', arch, '--invoke', 'bits', 'nan:0x200000')).stdout, /result: 2141192192 \(i32\)/);
    t.regex((await cli('run', WAT, '--arch', arch, '--invoke', 'nan64')).stdout, /result: nan:0x8000000000123 \(f64\)/);
  });

  test(`${arch}: run --invoke rejects a float argument that is no number (exit 2) and reports a conversion trap (exit 1)`, async (t) => {
    const bad = await cli('run', WAT, '--arch', arch, '--invoke', 'square', '2.5x');
    t.is(bad.code, 2);
    t.regex(bad.stderr, /--invoke square argument 1 \(f64\): '2\.5x' is not a number/);
    const trap = await cli('run', WAT, '--arch', arch, '--invoke', 'toInt', '2147483648');
    t.is(trap.code, 1);
    t.regex(trap.stdout + trap.stderr, /IntegerOverflow/);
    const nan = await cli('run', WAT, '--arch', arch, '--invoke', 'toInt', 'nan');
    t.is(nan.code, 1);
    t.regex(nan.stdout + nan.stderr, /BadConversionToInteger/);
  });
}

const PLAIN = scratchFile('floats-plain.wat', `(module
  (func (export "div") (param f64 f64) (result f64) (f64.div (local.get 0) (local.get 1)))
  (func (export "half") (param f32) (result f32) (f32.mul (local.get 0) (f32.const 0.5))))`);

test('run --profile v31 spells float results as the v17 run does', async (t) => {
  const r = await cli('run', PLAIN, '--profile', 'v31', '--invoke', 'div', '1', '-0');
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /result: -inf \(f64\)/);
  const json = JSON.parse((await cli('run', PLAIN, '--profile', 'v31', '--invoke', 'half', '5', '--json')).stdout);
  t.deepEqual(json.result, { type: 'f32', value: '2.5' });
  t.deepEqual(json.invoke.args, [{ type: 'f32', value: '5' }]);
});

test('gc --invoke prints a float result as run does (JSON: a string, since JSON has no inf or NaN)', async (t) => {
  const file = scratchFile('floats-gc.wat', '(module (import "env" "gc" (func $gc)) (func (export "f") (param f64) (result f64) call $gc (f64.div (local.get 0) (f64.const 0))))');
  const text = await cli('gc', file, '--invoke', 'f', '-1');
  t.is(text.code, 0, text.stderr);
  t.regex(text.stdout, /f\(-1\) = -inf/);
  const json = JSON.parse((await cli('gc', file, '--invoke', 'f', '0', '--json')).stdout);
  t.regex(json.result, /^-?nan$/);
});

const MULTI = scratchFile('floats-multi.wat', `(module
  (func $pair (param f64) (result f32 f64 i32) (f32.demote_f64 (local.get 0)) (f64.neg (local.get 0)) (i32.const 7))
  (func (export "mv") (param f64) (result f64) (local $t f64)
    (call $pair (local.get 0))
    drop
    (block (param f32 f64) (result f64) (local.set $t) (f64.promote_f32) (local.get $t) (f64.add) (f64.const 0.5) (f64.add)))
  (func $fact (param f64 f64) (result f64)
    (if (result f64) (f64.le (local.get 0) (f64.const 1)) (then (local.get 1))
      (else (return_call $fact (f64.sub (local.get 0) (f64.const 1)) (f64.mul (local.get 0) (local.get 1))))))
  (func (export "fact") (param f64) (result f64) (call $fact (local.get 0) (f64.const 1)))
  (func (export "many") (param f64) (result f64 f32 f64 f32 f64)
    (local.get 0) (f32.const 1.5) (f64.const -0) (f32.const nan:0x200000) (f64.const inf)))`);

for (const arch of ARCHES) for (const regalloc of ['none', 'linear-scan']) {
  test(`${arch} ${regalloc}: float results of multi-value calls and blocks, float tail calls, several float results printed`, async (t) => {
    const run = async (...args: string[]) => (await cli('run', MULTI, '--arch', arch, '--regalloc', regalloc, '--invoke', ...args)).stdout;
    t.regex(await run('mv', '2.5'), /result: 0\.5 \(f64\)/);
    t.regex(await run('fact', '10'), /result: 3628800 \(f64\)/);
    t.regex(await run('many', '3'), /results: 3 \(f64\), 1\.5 \(f32\), -0 \(f64\), nan:0x200000 \(f32\), inf \(f64\)/);
  });
}
