;; Defines and exports the tag "yield" and a producer that suspends with it three times
;; (7, 8, 9), then returns 100. Run it under another module's resume with --preload.
(module
  (tag $yield (export "yield") (param i32))
  (func (export "produce") (result i32)
    (suspend $yield (i32.const 7))
    (suspend $yield (i32.const 8))
    (suspend $yield (i32.const 9))
    (i32.const 100)))
