;; A collection inside compiled v31 code (stackscope gc --profile v31 --explain):
;; $outer keeps "ref 1" in a local across its call of $inner; $inner keeps "ref 2" and its
;; argument, parks "ref 3" in a table and drops "ref 4", which only the activations table knew.
(module
  (import "env" "ref" (func $ref (param i32) (result externref)))
  (import "env" "gc" (func $gc))
  (import "env" "print" (func $print (param externref externref)))
  (table $parked 1 externref)
  (func $inner (param $arg externref) (result externref)
    (local $mine externref)
    (local.set $mine (call $ref (i32.const 2)))
    (table.set $parked (i32.const 0) (call $ref (i32.const 3)))
    (drop (call $ref (i32.const 4)))
    (call $gc)
    (call $print (local.get $arg) (local.get $mine))
    (table.get $parked (i32.const 0)))
  (func (export "outer") (result externref)
    (local $kept externref)
    (local.set $kept (call $ref (i32.const 1)))
    (drop (call $inner (local.get $kept)))
    (local.get $kept)))
