(module
  (import "env" "observe" (func $observe (param externref) (result i32)))
  (memory 1)
  (table $refs 4 externref)
  ;; arithmetic on parameters
  (func $add (export "add") (param i32 i32) (result i32)
    (i32.add (local.get 0) (local.get 1)))
  ;; a bounds-checked load
  (func $load (param i32) (result i64)
    (i64.load offset=8 (local.get 0)))
  ;; $keep stays live across the call (a local read afterwards); $gone does not
  (func $keep (param $keep externref) (param $gone externref) (result i32)
    (i32.add
      (call $observe (local.get $gone))
      (ref.is_null (local.get $keep))))
  ;; table.get of an externref: inline activations-table insert with the libcall fallback
  (func $get (param i32) (result externref)
    (table.get $refs (local.get 0)))
)
