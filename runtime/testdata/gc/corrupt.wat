;; The negative scenario: `mixed` keeps two refs and a plain i64 live across env.gc, so its
;; frame holds marked ref words next to an unmarked integer word. A corrupted stack map (a
;; flipped bit, a frame size off by one word) makes a marked bit name the integer, which the
;; collector's debug check must reject loudly before anything is freed.
(module
  (import "env" "gc" (func $gc))
  (func (export "mixed") (param $a externref) (param $x i64) (param $b externref) (result i64)
    (call $gc)
    (drop (local.get $a))
    (drop (local.get $b))
    (local.get $x)))
