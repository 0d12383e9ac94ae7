;; Thousands of refs passed in and dropped, and the activations table filled from compiled
;; code: every global.get / table.get of a non-null externref bump-inserts a clone into the
;; 512-slot chunk; a full chunk sends compiled code to the activations_table_insert_with_gc
;; libcall, which collects ("table-full").
(module
  (table $t (export "tab") 4 externref)
  (global $last (export "last") (mut externref) (ref.null extern))
  (func (export "keep_last") (param $r externref)
    (global.set $last (local.get $r))
    (table.set $t (i32.const 0) (local.get $r)))
  (func (export "churn") (param $n i32) (result i32)
    (local $i i32) (local $x externref) (local $y externref)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $x (global.get $last))
        (local.set $y (table.get $t (i32.const 0)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $i)))
