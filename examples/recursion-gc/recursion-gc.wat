;; Recursion holding references across a GC.
;;
;; Each level of $descend takes its own externref out of table $held and keeps it in the
;; local $mine across the recursive call. It also takes a temporary out of table $temps and
;; drops it at once. Both tables forget their entries, so when the host runs a GC at the
;; bottom of the recursion the only things holding the refs are:
;;   - the Wasm frames ($mine, marked in each call site's stack map), and
;;   - the VMExternRefActivationsTable (table.get put a count there).
;; The collector walks the frames, keeps what the maps mark, and frees the temporaries.
(module
  (import "env" "gc" (func $gc))
  (import "env" "check" (func $check (param i32 externref)))
  (table $held (export "held") 3 externref)
  (table $temps (export "temps") 3 externref)
  (func $descend (export "descend") (param $n i32) (result i32)
    (local $mine externref)
    ;; take this level's ref; the table lets go of it
    (local.set $mine (table.get $held (local.get $n)))
    (table.set $held (local.get $n) (ref.null extern))
    ;; a temporary nobody keeps: after this, only the activations table counts it
    (drop (table.get $temps (local.get $n)))
    (table.set $temps (local.get $n) (ref.null extern))
    (if (i32.eqz (local.get $n))
      (then (call $gc))
      (else (drop (call $descend (i32.sub (local.get $n) (i32.const 1))))))
    ;; after the GC: the ref this frame held must still be alive
    (call $check (local.get $n) (local.get $mine))
    (local.get $n)))
