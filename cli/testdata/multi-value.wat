;; Multi-value: functions with several results, a call that takes them apart, and a block
;; with a type index. `stackscope run --invoke NAME ARGS...` prints every result in order.
(module
  ;; Quotient and remainder of an unsigned division.
  (func $divmod (export "divmod") (param $a i32) (param $b i32) (result i32 i32)
    (i32.div_u (local.get $a) (local.get $b))
    (i32.rem_u (local.get $a) (local.get $b)))
  ;; Three results on x86-64 (rax, rdx, then the return area): q, r and q·b + r as an i64.
  (func (export "check") (param $a i32) (param $b i32) (result i32 i32 i64)
    (local $q i32) (local $r i32)
    (call $divmod (local.get $a) (local.get $b))
    (local.set $r) (local.set $q)
    (local.get $q) (local.get $r)
    (i64.extend_i32_u (i32.add (i32.mul (local.get $q) (local.get $b)) (local.get $r))))
  ;; A block that takes a parameter and gives two results.
  (func (export "dup") (param i64) (result i64 i64)
    (local.get 0)
    (block (param i64) (result i64 i64)
      (local.tee 0)
      (local.get 0))))
