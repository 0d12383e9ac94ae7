;; Every command kind of the .wast format, each expected to pass (wast/wast.test.ts).

(module $lib
  (global (export "seven") i32 (i32.const 7))
  (memory (export "mem") 1)
  (func (export "twice") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2))))
(register "lib" $lib)

(module $main
  (import "lib" "twice" (func $twice (param i32) (result i32)))
  (import "spectest" "print_i32" (func $print (param i32)))
  (import "spectest" "global_i32" (global $g i32))
  (import "spectest" "memory" (memory 1 2))
  (table $t 2 externref)
  (func (export "add") (param i64 i64) (result i64) (i64.add (local.get 0) (local.get 1)))
  (func (export "via-lib") (param i32) (result i32) (call $twice (local.get 0)))
  (func (export "spectest-global") (result i32) (global.get $g))
  (func (export "log") (param i32) (call $print (local.get 0)))
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "sqrt") (param f32) (result f32) (f32.sqrt (local.get 0)))
  (func (export "neg") (param f64) (result f64) (f64.neg (local.get 0)))
  (func (export "pair") (result i32 i64) (i32.const -1) (i64.const 0x7fffffffffffffff))
  (func (export "keep") (param externref) (result externref)
    (table.set $t (i32.const 0) (local.get 0))
    (table.get $t (i32.const 0)))
  (func (export "null") (result funcref) (ref.null func))
  (func $self (export "self") (result funcref) (ref.func $self))
  (func $deep (export "deep") (call $deep)))

(assert_return (invoke "add" (i64.const -1) (i64.const 3)) (i64.const 2))
(assert_return (invoke $main "via-lib" (i32.const 21)) (i32.const 42))
(assert_return (invoke "spectest-global") (i32.const 666))
(invoke "log" (i32.const 1))
(assert_return (get $lib "seven") (i32.const 7))
(assert_return (invoke "sqrt" (f32.const -1)) (f32.const nan:canonical))
(assert_return (invoke "sqrt" (f32.const nan:0x200000)) (f32.const nan:arithmetic))
(assert_return (invoke "sqrt" (f32.const 0x1p+2)) (f32.const 2.0))
(assert_return (invoke "neg" (f64.const 0)) (f64.const -0x0p+0))
(assert_return (invoke "pair") (i32.const 0xffff_ffff) (i64.const 9_223_372_036_854_775_807))
(assert_return (invoke "keep" (ref.extern 5)) (ref.extern 5))
(assert_return (invoke "keep" (ref.null extern)) (ref.null extern))
(assert_return (invoke "null") (ref.null func))
(assert_return (invoke "self") (ref.func))
(assert_return (invoke "add" (i64.const 1) (i64.const 1)) (either (i64.const 3) (i64.const 2)))
(assert_trap (invoke "div" (i32.const 1) (i32.const 0)) "integer divide by zero")
(assert_trap (invoke "div" (i32.const 0x80000000) (i32.const -1)) "integer overflow")
(assert_exhaustion (invoke "deep") "call stack exhausted")

(assert_trap (module (func $boom unreachable) (start $boom)) "unreachable")
(assert_trap (module (memory 1) (data (i32.const 65535) "ab")) "out of bounds memory access")
(assert_invalid (module (func (result i32) (i64.const 1))) "type mismatch")
(assert_malformed (module binary "\00asm" "\02\00\00\00") "unknown binary version")
(assert_malformed (module quote "(func (i32.const))") "unexpected token")
(assert_unlinkable (module (import "lib" "nothing" (func))) "unknown import")
(assert_unlinkable (module (import "lib" "seven" (func))) "incompatible import type")

(module binary
  "\00asm" "\01\00\00\00"
  "\01\05\01\60\00\01\7f"          ;; type 0: [] -> [i32]
  "\03\02\01\00"                   ;; one function of type 0
  "\07\07\01\03\6f\6e\65\00\00"    ;; export "one" = function 0
  "\0a\06\01\04\00\41\01\0b")      ;; body: i32.const 1
(assert_return (invoke "one") (i32.const 1))
(module quote "(func (export \"two\") (result i32) (i32.const 2))")
(assert_return (invoke "two") (i32.const 2))
