;; Activations-table overflow: a GC started by compiled code.
;;
;; Every table.get of a non-null externref puts a count in the VMExternRefActivationsTable.
;; Compiled code does that inline: it bumps `next` while `next != end` (512 slots in the
;; chunk). When the chunk is full it calls the activations_table_insert_with_gc libcall
;; instead, and that runs a collection in the middle of the loop: the collector walks the
;; frames of $churn (its stack map marks $keep) and empties the chunk.
(module
  (import "env" "probe" (func $probe (param i32)))
  (import "env" "check" (func $check (param externref)))
  (table $t (export "t") 4 externref)
  (func (export "churn") (param $n i32)
    (local $i i32) (local $keep externref)
    ;; one ref held in a local for the whole loop: it must survive every collection
    (local.set $keep (table.get $t (i32.const 0)))
    (table.set $t (i32.const 0) (ref.null extern))
    (call $probe (i32.const -1))
    (block $done
      (loop $again
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        ;; a ref read and dropped at once: each one costs an activations-table slot
        (drop (table.get $t (i32.add (i32.const 1) (i32.rem_u (local.get $i) (i32.const 3)))))
        (call $probe (local.get $i))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $again)))
    (call $check (local.get $keep))))
