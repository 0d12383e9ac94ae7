;; bench/compiler's six kernels in Wasm, the same algorithms as compiler-kernels.c, written
;; as a front end would emit them (locals, structured loops, no hand scheduling). Pointers are
;; offsets in the exported memory.
(module
  (memory (export "memory") 4)

  (func $fib (export "fib") (param $n i32) (result i32)
    (if (result i32) (i32.lt_s (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                     (call $fib (i32.sub (local.get $n) (i32.const 2)))))))

  (func (export "sum") (param $a i32) (param $n i32) (result i32)
    (local $i i32) (local $s i32)
    (block $done
      (br_if $done (i32.le_s (local.get $n) (i32.const 0)))
      (loop $next
        (local.set $s (i32.add (local.get $s)
          (i32.load (i32.add (local.get $a) (i32.shl (local.get $i) (i32.const 2))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $next (i32.lt_s (local.get $i) (local.get $n)))))
    (local.get $s))

  (func (export "copy") (param $dst i32) (param $src i32) (param $n i32)
    (local $i i32)
    (block $done
      (br_if $done (i32.le_s (local.get $n) (i32.const 0)))
      (loop $next
        (i32.store (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 2)))
          (i32.load (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 2)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $next (i32.lt_s (local.get $i) (local.get $n))))))

  (func (export "collatz") (param $n i32) (result i32)
    (local $steps i32) (local $i i32) (local $x i32)
    (local.set $i (i32.const 1))
    (block $done
      (br_if $done (i32.gt_s (local.get $i) (local.get $n)))
      (loop $outer
        (local.set $x (local.get $i))
        (block $one
          (br_if $one (i32.eq (local.get $x) (i32.const 1)))
          (loop $inner
            (local.set $x
              (if (result i32) (i32.and (local.get $x) (i32.const 1))
                (then (i32.add (i32.mul (local.get $x) (i32.const 3)) (i32.const 1)))
                (else (i32.shr_u (local.get $x) (i32.const 1)))))
            (local.set $steps (i32.add (local.get $steps) (i32.const 1)))
            (br_if $inner (i32.ne (local.get $x) (i32.const 1)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $outer (i32.le_s (local.get $i) (local.get $n)))))
    (local.get $steps))

  (func (export "matmul") (param $c i32) (param $a i32) (param $b i32) (param $n i32)
    (local $i i32) (local $j i32) (local $k i32) (local $s i32)
    (block $done
      (br_if $done (i32.le_s (local.get $n) (i32.const 0)))
      (loop $rows
        (local.set $j (i32.const 0))
        (loop $cols
          (local.set $s (i32.const 0))
          (local.set $k (i32.const 0))
          (loop $dot
            (local.set $s (i32.add (local.get $s)
              (i32.mul
                (i32.load (i32.add (local.get $a)
                  (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $k)) (i32.const 2))))
                (i32.load (i32.add (local.get $b)
                  (i32.shl (i32.add (i32.mul (local.get $k) (local.get $n)) (local.get $j)) (i32.const 2)))))))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br_if $dot (i32.lt_s (local.get $k) (local.get $n))))
          (i32.store (i32.add (local.get $c)
            (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $j)) (i32.const 2)))
            (local.get $s))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br_if $cols (i32.lt_s (local.get $j) (local.get $n))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $rows (i32.lt_s (local.get $i) (local.get $n))))))

  (func (export "crc32") (param $p i32) (param $n i32) (result i32)
    (local $c i32) (local $i i32) (local $k i32)
    (local.set $c (i32.const -1))
    (block $done
      (br_if $done (i32.le_s (local.get $n) (i32.const 0)))
      (loop $bytes
        (local.set $c (i32.xor (local.get $c) (i32.load8_u (i32.add (local.get $p) (local.get $i)))))
        (local.set $k (i32.const 0))
        (loop $bits
          (local.set $c (i32.xor (i32.shr_u (local.get $c) (i32.const 1))
            (i32.and (i32.const 0xedb88320) (i32.sub (i32.const 0) (i32.and (local.get $c) (i32.const 1))))))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br_if $bits (i32.lt_s (local.get $k) (i32.const 8))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $bytes (i32.lt_s (local.get $i) (local.get $n)))))
    (i32.xor (local.get $c) (i32.const -1))))
