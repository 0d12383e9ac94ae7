;; Destructors re-entering Wasm, and GC inside GC. `hold` keeps its argument live across
;; env.gc; `stash` / `clear` write the table (compiled code drops the old value, which may run
;; a destructor); `read_many` fills the activations table's chunk with table.get clones, so a
;; destructor running inside a sweep sends compiled code to the insert_with_gc libcall while
;; a collection is already in progress.
(module
  (import "env" "gc" (func $gc))
  (table $t (export "tab") 8 externref)
  (func (export "hold") (param $r externref) (result externref)
    (call $gc)
    (local.get $r))
  (func (export "stash") (param $i i32) (param $r externref)
    (table.set $t (local.get $i) (local.get $r)))
  (func (export "clear") (param $i i32)
    (table.set $t (local.get $i) (ref.null extern)))
  (func (export "read_many") (param $i i32) (param $n i32) (result i32)
    (local $k i32) (local $x externref)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $k) (local.get $n)))
        (local.set $x (table.get $t (local.get $i)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $next)))
    (local.get $k)))
