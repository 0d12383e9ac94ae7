;; References across collections under the v31 profile (stackscope run --profile v31):
;; a ref held in a local survives two collections, one only the activations table knew is
;; freed, a table element and a global hold theirs by reference count.
(module
  (import "env" "new_ref" (func $new_ref (param i32) (result externref)))
  (import "env" "gc" (func $gc))
  (import "env" "print_externref" (func $print (param externref)))
  (table $t (export "t") 2 externref)
  (global $g (export "g") (mut externref) (ref.null extern))
  (func $keep (export "keep") (param $arg externref) (result externref)
    (local $held externref)
    (local.set $held (call $new_ref (i32.const 1)))
    (global.set $g (call $new_ref (i32.const 2)))
    (drop (call $new_ref (i32.const 3)))
    (call $gc)
    (table.set $t (i32.const 0) (local.get $held))
    (call $gc)
    (call $print (table.get $t (i32.const 0)))
    (call $print (global.get $g))
    (local.get $arg))
  (func (export "main") (result externref)
    (call $keep (call $new_ref (i32.const 0)))))
