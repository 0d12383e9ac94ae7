;; Host calls: Wasm calling TypeScript, both ways wasmtime offers.
;;
;; - $mul_add is a Func.wrap host function: Wasm reaches it through the wasm-to-native
;;   trampoline, arguments in registers.
;; - $print is a Func.new host function: Wasm reaches it through the wasm-to-array
;;   trampoline, which spills the arguments into a ValRaw buffer on the guest stack.
;;   It reads a string out of the exported memory through its Caller.
(module
  (import "env" "mul_add" (func $mul_add (param i64 i64 i64) (result i64)))
  (import "env" "print" (func $print (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello from Wasm")
  (func (export "greet")
    (call $print (i32.const 16) (i32.const 15)))
  ;; acc = 1; for i in 1..=n: acc = mul_add(acc, 3, i)  (acc * 3 + i, computed by the host)
  (func (export "poly") (param $n i32) (result i64)
    (local $i i32) (local $acc i64)
    (local.set $acc (i64.const 1))
    (local.set $i (i32.const 1))
    (block $done
      (loop $next
        (br_if $done (i32.gt_s (local.get $i) (local.get $n)))
        (local.set $acc (call $mul_add (local.get $acc) (i64.const 3) (i64.extend_i32_s (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $acc)))
