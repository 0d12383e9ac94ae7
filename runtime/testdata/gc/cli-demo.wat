;; The `stackscope gc` example (cli/gc.test.ts): $inner holds the caller's ref and a fresh one
;; from env.ref across env.gc, while another fresh ref was dropped before the call (garbage
;; the GC frees). `boom` collects and then traps.
(module
  (import "env" "gc" (func $gc))
  (import "env" "ref" (func $ref (param i32) (result externref)))
  (import "env" "print" (func $print (param externref i32)))
  (func $inner (param $a externref) (param $n i32) (result externref)
    (local $tmp externref)
    (local.set $tmp (call $ref (local.get $n)))
    (drop (call $ref (i32.const 99)))
    (call $gc)
    (call $print (local.get $a) (local.get $n))
    (local.get $tmp))
  (func (export "main") (param $a externref) (param $n i32) (result externref)
    (local $r externref)
    (local.set $r (call $inner (local.get $a) (local.get $n)))
    (call $print (local.get $r) (i32.const 0))
    (local.get $r))
  (func (export "boom") (param $a externref)
    (call $gc)
    unreachable))
