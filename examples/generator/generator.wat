;; A generator under wasmtime v44's stack switching: the producer runs on its own stack and
;; suspends with each item; the consumer, on the initial stack, resumes it and collects while it
;; is suspended. The producer keeps $batch in a frame across every suspend.
(module
  (import "env" "new_ref" (func $new_ref (param i32) (result externref)))
  (import "env" "print_externref" (func $consume (param externref)))
  (import "env" "gc" (func $gc))
  (type $producer_t (func))
  (type $producer_k (cont $producer_t))
  (tag $yield (param externref))

  (func $producer
    (local $batch externref)
    (local $i i32)
    (local.set $batch (call $new_ref (i32.const 100)))
    (loop $next
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (suspend $yield (call $new_ref (local.get $i)))
      (br_if $next (i32.lt_u (local.get $i) (i32.const 3))))
    ;; The batch survived three suspends and a collection per item.
    (call $consume (local.get $batch)))
  (elem declare func $producer)

  (func $consumer (export "main")
    (local $k (ref null $producer_k))
    (local.set $k (cont.new $producer_k (ref.func $producer)))
    (block $done
      (loop $more
        (block $on_yield (result externref (ref $producer_k))
          (resume $producer_k (on $yield $on_yield) (local.get $k))
          (br $done))
        (local.set $k)
        (call $consume)
        (call $gc)
        (br $more)))))
