;; SIMD is what the runner skips: a v128 module and the commands that use it, and v128 arguments.
(module (func (export "splat") (param i32) (result v128) (i32x4.splat (local.get 0))))
(assert_return (invoke "splat" (i32.const 1)) (v128.const i32x4 1 1 1 1))
(module (func (export "id") (param i32) (result i32) (local.get 0)))
(assert_return (invoke "id" (i32.const 3)) (i32.const 3))
