;; Fibonacci, recursive and iterative: plain Wasm calls between compiled functions
;; (call/bl with a relocation), i64 arithmetic, a mutable global the host reads back.
(module
  (global $calls (export "calls") (mut i64) (i64.const 0))
  ;; fib(n) = n < 2 ? n : fib(n - 1) + fib(n - 2), counting every call in $calls
  (func $fib (export "fib") (param $n i32) (result i64)
    (global.set $calls (i64.add (global.get $calls) (i64.const 1)))
    (if (result i64) (i32.lt_u (local.get $n) (i32.const 2))
      (then (i64.extend_i32_u (local.get $n)))
      (else
        (i64.add
          (call $fib (i32.sub (local.get $n) (i32.const 1)))
          (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  (func (export "fib_iter") (param $n i32) (result i64)
    (local $a i64) (local $b i64) (local $t i64)
    (local.set $b (i64.const 1))
    (block $done
      (loop $step
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $t (i64.add (local.get $a) (local.get $b)))
        (local.set $a (local.get $b))
        (local.set $b (local.get $t))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $step)))
    (local.get $a)))
