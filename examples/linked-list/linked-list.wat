;; A linked list of externrefs kept in a Wasm table.
;;
;; Node k's value is element k of table $nodes; its link is next[k], an i32 in linear memory
;; at 4·k (-1 ends the list). push grows the table by one element holding the new value
;; (table.grow returns the new element's index). The refs live in the table, so they need no
;; stack map: the table holds its own counts, which compiled code updates on every table.set.
(module
  (import "env" "weight" (func $weight (param externref) (result i32)))
  (table $nodes (export "nodes") 0 externref)
  (memory 1)
  (global $head (mut i32) (i32.const -1))
  (func $next (param $k i32) (result i32)
    (i32.load (i32.shl (local.get $k) (i32.const 2))))
  (func $set_next (param $k i32) (param $to i32)
    (i32.store (i32.shl (local.get $k) (i32.const 2)) (local.get $to)))
  ;; push(x): a new node in front; returns its index
  (func (export "push") (param $x externref) (result i32)
    (local $k i32)
    (local.set $k (table.grow $nodes (local.get $x) (i32.const 1)))
    (call $set_next (local.get $k) (global.get $head))
    (global.set $head (local.get $k))
    (local.get $k))
  ;; pop(): removes the front node; returns its value (null when empty)
  (func (export "pop") (result externref)
    (local $k i32) (local $x externref)
    (if (i32.lt_s (global.get $head) (i32.const 0)) (then (return (ref.null extern))))
    (local.set $k (global.get $head))
    (local.set $x (table.get $nodes (local.get $k)))
    ;; the table lets go: compiled code decrements the count
    (table.set $nodes (local.get $k) (ref.null extern))
    (global.set $head (call $next (local.get $k)))
    (local.get $x))
  (func (export "length") (result i32)
    (local $k i32) (local $n i32)
    (local.set $k (global.get $head))
    (block $end
      (loop $walk
        (br_if $end (i32.lt_s (local.get $k) (i32.const 0)))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (local.set $k (call $next (local.get $k)))
        (br $walk)))
    (local.get $n))
  ;; nth(i): the value of the i-th node from the front (null past the end)
  (func (export "nth") (param $i i32) (result externref)
    (local $k i32)
    (local.set $k (global.get $head))
    (block $end
      (loop $walk
        (br_if $end (i32.lt_s (local.get $k) (i32.const 0)))
        (br_if $end (i32.eqz (local.get $i)))
        (local.set $i (i32.sub (local.get $i) (i32.const 1)))
        (local.set $k (call $next (local.get $k)))
        (br $walk)))
    (if (i32.lt_s (local.get $k) (i32.const 0)) (then (return (ref.null extern))))
    (table.get $nodes (local.get $k)))
  ;; total weight: the host reads each value
  (func (export "total") (result i32)
    (local $k i32) (local $sum i32)
    (local.set $k (global.get $head))
    (block $end
      (loop $walk
        (br_if $end (i32.lt_s (local.get $k) (i32.const 0)))
        (local.set $sum (i32.add (local.get $sum) (call $weight (table.get $nodes (local.get $k)))))
        (local.set $k (call $next (local.get $k)))
        (br $walk)))
    (local.get $sum))
  ;; reverse the links in place; the table is untouched
  (func (export "reverse")
    (local $prev i32) (local $k i32) (local $after i32)
    (local.set $prev (i32.const -1))
    (local.set $k (global.get $head))
    (block $end
      (loop $walk
        (br_if $end (i32.lt_s (local.get $k) (i32.const 0)))
        (local.set $after (call $next (local.get $k)))
        (call $set_next (local.get $k) (local.get $prev))
        (local.set $prev (local.get $k))
        (local.set $k (local.get $after))
        (br $walk)))
    (global.set $head (local.get $prev))))
