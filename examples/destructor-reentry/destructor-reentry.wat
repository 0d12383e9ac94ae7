;; A destructor re-entering Wasm.
;;
;; When the last count on an externref goes away, its host destructor runs. Here that
;; destructor calls back into this module ($on_drop), from two places:
;; - inside Wasm: `replace` overwrites a table element, compiled code brings the old ref's
;;   count to 0 and calls the drop_externref libcall, whose destructor calls $on_drop: Wasm →
;;   libcall → host → Wasm, two activations deep;
;; - inside a GC: the sweep frees a ref only the activations table held; its destructor calls
;;   $on_drop while the collection is still running, and a GC requested from there returns at
;;   once (the outer collection wins).
(module
  (import "env" "note" (func $note (param i32)))
  (table $slots (export "slots") 2 externref)
  (global $drops (export "drops") (mut i32) (i32.const 0))
  (func (export "replace") (param $i i32) (param $x externref)
    (table.set $slots (local.get $i) (local.get $x)))
  (func (export "ignore") (param $x externref))
  (func (export "on_drop") (param $id i32) (result i32)
    (global.set $drops (i32.add (global.get $drops) (i32.const 1)))
    (call $note (local.get $id))
    (global.get $drops)))
