;; The module of the CLI tests and of docs/cli.md: every default host import, recursion,
;; externrefs held across a GC, i64 arithmetic and a trap.
(module
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
