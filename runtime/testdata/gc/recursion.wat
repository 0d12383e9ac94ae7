;; Refs held only by frames, several deep, across host calls that collect.
;; Each level of $deep asks the host for its own ref (moved to Wasm: the activations table
;; holds its only count), recurses, and calls env.gc on the way back up; after that GC the
;; frames' stack maps are the only thing keeping the deeper levels' refs alive. Each level
;; hands its ref to env.check afterwards so the host sees whether it survived.
(module
  (import "env" "make" (func $make (param i32) (result externref)))
  (import "env" "gc" (func $gc))
  (import "env" "check" (func $check (param externref i32)))
  (func $deep (export "deep") (param $n i32) (result i32)
    (local $mine externref)
    (local.set $mine (call $make (local.get $n)))
    (if (i32.eqz (local.get $n))
      (then (call $gc))
      (else
        (drop (call $deep (i32.sub (local.get $n) (i32.const 1))))
        (call $gc)))
    (call $check (local.get $mine) (local.get $n))
    (local.get $n)))
