;; Structs and arrays under --profile v31 (docs/gc.md §7.2): `hold` keeps a pair whose left field
;; points at another pair, and an array of bytes, in locals across a collection (env.gc);
;; `cycle` leaves two structs that point at each other, which DRC can never free; `oob` traps.
(module
  (import "env" "gc" (func $gc))
  (type $pair (struct (field $left (mut (ref null $pair))) (field $n i32)))
  (type $bytes (array (mut i8)))
  (func (export "hold") (param $n i32) (result i32)
    (local $p (ref null $pair)) (local $b (ref null $bytes))
    (local.set $p (struct.new $pair (struct.new $pair (ref.null none) (i32.const 1)) (local.get $n)))
    (local.set $b (array.new $bytes (i32.const 7) (i32.const 10)))
    (call $gc)
    (i32.add (struct.get $pair $n (local.get $p)) (array.len (local.get $b))))
  (func (export "cycle") (result i32)
    (local $a (ref null $pair))
    (local.set $a (struct.new $pair (ref.null none) (i32.const 1)))
    (struct.set $pair $left (local.get $a) (struct.new $pair (local.get $a) (i32.const 2)))
    (call $gc)
    (i32.const 0))
  (func (export "oob") (result i32)
    (array.get_u $bytes (array.new_default $bytes (i32.const 2)) (i32.const 2)))
)
