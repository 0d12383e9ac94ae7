;; Traps with backtraces.
;;
;; Each export ends in a different wasmtime trap. Compiled code branches to an out-of-line
;; ud2 / udf (or executes `unreachable` in line); the runtime finds the faulting PC in the
;; image's trap table to name the trap code, and walks the frame-pointer chain for the
;; backtrace. A trap raised by a host function is attributed to the Wasm frame that called it.
(module
  (type $to_i32 (func (result i32)))
  (import "env" "refuse" (func $refuse (param i32)))
  (memory 1)
  (table 2 funcref)
  (elem (i32.const 0) $seven)
  (func $seven (type $to_i32) (i32.const 7))
  ;; divide -> halve_then_divide -> do_divide: a three-frame backtrace
  (func $do_divide (param $x i32) (result i32)
    (i32.div_s (i32.const 100) (local.get $x)))
  (func $halve_then_divide (param $x i32) (result i32)
    (call $do_divide (i32.shr_s (local.get $x) (i32.const 1))))
  (func (export "divide") (param $x i32) (result i32)
    (call $halve_then_divide (local.get $x)))
  (func (export "load") (param $addr i32) (result i32)
    (i32.load (local.get $addr)))
  (func $fail unreachable)
  (func (export "fail_deep") (call $fail))
  (func (export "call_slot") (param $i i32) (result i32)
    (call_indirect (type $to_i32) (local.get $i)))
  (func $recurse (export "recurse") (param $n i32) (result i32)
    (call $recurse (i32.add (local.get $n) (i32.const 1))))
  (func (export "ask_host") (param $x i32)
    (call $refuse (local.get $x))))
