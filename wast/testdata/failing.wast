;; Each assertion after the first module is wrong on purpose, and the last module cannot be
;; linked: the runner must report every one as failed, at its own line (wast/wast.test.ts).
(module
  (func (export "one") (result i32) (i32.const 1))
  (func (export "nan") (result f32) (f32.const nan:0x1))
  (func (export "void")))
(assert_return (invoke "one") (i32.const 2))
(assert_return (invoke "nan") (f32.const nan:arithmetic))
(assert_trap (invoke "void") "unreachable")
(assert_return (invoke "missing"))
(assert_invalid (module (func)) "type mismatch")
(assert_malformed (module binary "\00asm\01\00\00\00") "anything")
(assert_unlinkable (module) "unknown import")
(assert_return (invoke "one") (i64.const 1))
(module $broken (import "nowhere" "f" (func)) (func (export "one") (result i32) (i32.const 9)))
(assert_return (invoke "one") (i32.const 1))
