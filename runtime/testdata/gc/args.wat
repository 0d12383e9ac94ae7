;; Refs passed as arguments through several frames. $f1 → $f2 → $f3 pass (a, b) down; each
;; level uses both after its call, so every frame's stack map marks them across the call, and
;; the GC at the bottom finds each ref in all three frames.
(module
  (import "env" "gc" (func $gc))
  (import "env" "check" (func $check (param externref externref i32)))
  (func $f3 (param $a externref) (param $b externref) (result externref)
    (call $gc)
    (call $check (local.get $a) (local.get $b) (i32.const 3))
    (local.get $b))
  (func $f2 (param $a externref) (param $b externref) (result externref)
    (local $r externref)
    (local.set $r (call $f3 (local.get $a) (local.get $b)))
    (call $check (local.get $a) (local.get $b) (i32.const 2))
    (local.get $r))
  (func (export "f1") (param $a externref) (param $b externref) (result externref)
    (local $r externref)
    (local.set $r (call $f2 (local.get $a) (local.get $b)))
    (call $check (local.get $a) (local.get $b) (i32.const 1))
    (local.get $r)))
