;; Imports the producer's function and its tag from module "p" (run with
;; --preload p=cli/testdata/tag-producer.wat --profile v44): resumes the producer, prints each
;; value it yields, and returns the sum of them and of what it returns.
(module
  (type $ft (func (result i32)))
  (type $ct (cont $ft))
  (import "env" "print_i32" (func $print (param i32)))
  (import "p" "produce" (func $produce (type $ft)))
  (import "p" "yield" (tag $yield (param i32)))
  (elem declare func $produce)
  (func (export "consume") (result i32)
    (local $k (ref null $ct)) (local $sum i32) (local $v i32)
    (local.set $k (cont.new $ct (ref.func $produce)))
    (loop $next
      (block $on_yield (result i32 (ref $ct))
        (return (i32.add (local.get $sum) (resume $ct (on $yield $on_yield) (local.get $k)))))
      (local.set $k)
      (local.set $v)
      (call $print (local.get $v))
      (local.set $sum (i32.add (local.get $sum) (local.get $v)))
      (br $next))
    (unreachable)))
