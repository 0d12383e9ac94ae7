/** Helpers shared by the CLI's tests: run a command line in-process, write scratch modules. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from './main.ts';
import { captureOutput } from './output.ts';

export async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = captureOutput();
  const code = await main(argv, out);
  return { code, stdout: out.stdout.join('\n'), stderr: out.stderr.join('\n') };
}

const scratch = mkdtempSync(join(tmpdir(), 'stackscope-cli-'));

/** Writes `text` to a fresh file named `name` and returns its path. */
export function scratchFile(name: string, text: string | Uint8Array): string {
  const path = join(scratch, name);
  writeFileSync(path, text);
  return path;
}

export function scratchPath(name: string): string {
  return join(scratch, name);
}

/**
 * A module exercising every default host import: recursion (fib), externref parameters held
 * across a GC (hold), a trap (boom), i64 arithmetic and a default entry point (main).
 */
export const TEACHING_WAT = `(module
  (import "env" "gc" (func $gc))
  (import "env" "print_i32" (func $print_i32 (param i32)))
  (import "env" "print_i64" (func $print_i64 (param i64)))
  (import "env" "print_externref" (func $print_ref (param externref)))
  (import "env" "new_ref" (func $new_ref (param i32) (result externref)))
  (func $fib (export "fib") (param $n i32) (result i32)
    (if (result i32) (i32.lt_s (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                     (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  (func $hold (export "hold") (param $a externref) (param $b externref) (result externref)
    call $gc
    (call $print_ref (local.get $a))
    local.get $b
    drop
    local.get $a)
  (func $scale (export "scale") (param $x i64) (result i64)
    (call $print_i64 (i64.mul (local.get $x) (i64.const -3)))
    (i64.mul (local.get $x) (i64.const -3)))
  (func $boom (export "boom") (param $d i32) (result i32)
    (i32.div_s (i32.const 1) (local.get $d)))
  (func $main (export "main")
    (call $print_i32 (call $fib (i32.const 7)))
    (call $print_ref (call $hold (call $new_ref (i32.const 5)) (ref.null extern)))))
`;
