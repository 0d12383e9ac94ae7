;; relay: three workers pass a baton around a ring with symmetric `switch` (profile v44).
;;
;; Each worker is a continuation made by `cont.new` and given its number by `cont.bind`. The
;; ring is a table of continuation references: a worker that receives the baton also receives
;; the continuation of the worker that switched to it, parks it in the ring, takes the next
;; worker from the ring and switches to it with the baton one lower. Each worker keeps its own
;; externref in a local across every switch and makes a temporary one per turn. The worker that
;; gets baton 0 collects: its stack runs, main's initial stack is its parent (it holds the
;; `(on $pass switch)` handler), and the two other workers are suspended, named only by the
;; ring table. Then it returns, which ends main's resume.
(module
  (import "env" "ref" (func $ref (param i32) (result externref)))
  (import "env" "print_i32" (func $print_i32 (param i32)))
  (import "env" "print_externref" (func $print_ref (param externref)))
  (import "env" "gc" (func $gc))
  ;; A running worker's view of the ring: the baton and the continuation that handed it over.
  (rec
    (type $ft (func (param i32 (ref null $ct))))
    (type $ct (cont $ft)))
  ;; A worker before `cont.bind` gives it its number.
  (type $wft (func (param i32 i32 (ref null $ct))))
  (type $wct (cont $wft))
  (tag $pass)
  (table $ring 3 (ref null $ct))

  (func $worker (type $wft) (param $id i32) (param $baton i32) (param $from (ref null $ct))
    (local $mine externref)
    (local.set $mine (call $ref (local.get $id)))
    (loop $turn
      ;; The worker before this one in the ring handed the baton over: park it in its slot.
      (if (i32.eqz (ref.is_null (local.get $from)))
        (then (table.set $ring (i32.rem_u (i32.add (local.get $id) (i32.const 2)) (i32.const 3)) (local.get $from))))
      (call $print_i32 (i32.add (i32.mul (local.get $id) (i32.const 100)) (local.get $baton)))
      ;; A temporary: freed by the next collection, as nothing keeps it.
      (drop (call $ref (i32.add (i32.const 1000) (local.get $baton))))
      (if (i32.eqz (local.get $baton))
        (then
          (call $gc)
          (call $print_ref (local.get $mine))
          (return)))
      (switch $ct $pass
        (i32.sub (local.get $baton) (i32.const 1))
        (table.get $ring (i32.rem_u (i32.add (local.get $id) (i32.const 1)) (i32.const 3))))
      (local.set $from)
      (local.set $baton)
      (br $turn)))
  (elem declare func $worker)

  (func (export "main") (result i32)
    (local $i i32)
    (loop $spawn
      (table.set $ring (local.get $i)
        (cont.bind $wct $ct (local.get $i) (cont.new $wct (ref.func $worker))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $spawn (i32.lt_u (local.get $i) (table.size $ring))))
    ;; Worker 0 starts with baton 7 and nobody before it.
    (resume $ct (on $pass switch) (i32.const 7) (ref.null $ct) (table.get $ring (i32.const 0)))
    (table.size $ring)))
