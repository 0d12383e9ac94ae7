;; Float code as the compiler emits it (compiler/floats.test.ts diffs the listings,
;; floats.<arch>.txt and floats.linear-scan.<arch>.txt).
(module
  (func $min (export "min") (param f64 f64) (result f64)
    (f64.min (local.get 0) (local.get 1)))
  (func $round (export "round") (param f32) (result f32)
    (f32.nearest (local.get 0)))
  (func $to_i32 (export "to_i32") (param f64) (result i32)
    (i32.trunc_f64_s (local.get 0)))
  (func $to_u64_sat (export "to_u64_sat") (param f64) (result i64)
    (i64.trunc_sat_f64_u (local.get 0)))
  (func $from_u64 (export "from_u64") (param i64) (result f64)
    (f64.convert_i64_u (local.get 0)))
  (func $clamp (export "clamp") (param f32 f32) (result f32)
    (select (local.get 0) (local.get 1) (f32.lt (local.get 0) (local.get 1))))
  ;; $x and $y are live across the call: a slot on x64 (no callee-saved xmm), d8/d9 on AArch64.
  (func $across (export "across") (param $x f64) (param $y f32) (result f64)
    (f64.add (f64.add (local.get $x) (f64.promote_f32 (local.get $y)))
             (call $min (local.get $x) (f64.promote_f32 (local.get $y))))))
