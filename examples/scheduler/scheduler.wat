;; A round-robin scheduler of three tasks under wasmtime v44's stack switching. Each task holds
;; its own externref across every yield; task 1 collects in its second round, while tasks 0 and
;; 2 are suspended and the scheduler waits on the initial stack: four stacks hold frames.
(module
  (import "env" "new_ref" (func $new_ref (param i32) (result externref)))
  (import "env" "print" (func $log (param i32 externref)))
  (import "env" "gc" (func $gc))
  (type $task_t (func (param i32)))
  (type $task_k (cont $task_t))
  (type $rest_t (func))
  (type $rest_k (cont $rest_t))
  (tag $yield)

  (func $task (param $id i32)
    (local $mine externref)
    (local $round i32)
    (local.set $mine (call $new_ref (local.get $id)))
    (loop $again
      ;; A temporary nobody keeps: the collection frees the ones made so far.
      (drop (call $new_ref (i32.add (i32.const 10) (i32.add (i32.mul (local.get $id) (i32.const 10)) (local.get $round)))))
      (call $log (local.get $id) (local.get $mine))
      (if (i32.and (i32.eq (local.get $id) (i32.const 1)) (i32.eq (local.get $round) (i32.const 1)))
        (then (call $gc)))
      (suspend $yield)
      (local.set $round (i32.add (local.get $round) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $round) (i32.const 3)))))
  (elem declare func $task)

  ;; Starts task $id: runs it to its first yield.
  (func $start (param $id i32) (result (ref null $rest_k))
    (block $on_yield (result (ref $rest_k))
      (resume $task_k (on $yield $on_yield) (local.get $id) (cont.new $task_k (ref.func $task)))
      (return (ref.null $rest_k))))

  ;; Runs a task to its next yield; null once it has finished.
  (func $step (param $k (ref null $rest_k)) (result (ref null $rest_k))
    (if (ref.is_null (local.get $k)) (then (return (ref.null $rest_k))))
    (block $on_yield (result (ref $rest_k))
      (resume $rest_k (on $yield $on_yield) (local.get $k))
      (return (ref.null $rest_k))))

  (func $scheduler (export "main") (result i32)
    (local $a (ref null $rest_k))
    (local $b (ref null $rest_k))
    (local $c (ref null $rest_k))
    (local $turns i32)
    (local.set $a (call $start (i32.const 0)))
    (local.set $b (call $start (i32.const 1)))
    (local.set $c (call $start (i32.const 2)))
    (loop $round
      (local.set $a (call $step (local.get $a)))
      (local.set $b (call $step (local.get $b)))
      (local.set $c (call $step (local.get $c)))
      (local.set $turns (i32.add (local.get $turns) (i32.const 1)))
      (br_if $round (i32.eqz (i32.and (ref.is_null (local.get $a)) (i32.and (ref.is_null (local.get $b)) (ref.is_null (local.get $c)))))))
    (local.get $turns)))
