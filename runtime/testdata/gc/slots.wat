;; Table and global slots keeping refs alive, and releasing them when overwritten (compiled
;; table.set / global.set drop the old value; at zero the drop_externref libcall frees it).
(module
  (table $t (export "tab") 4 externref)
  (global $g (export "g") (mut externref) (ref.null extern))
  (func (export "put") (param $i i32) (param $r externref)
    (table.set $t (local.get $i) (local.get $r))
    (global.set $g (local.get $r)))
  (func (export "put_table") (param $i i32) (param $r externref)
    (table.set $t (local.get $i) (local.get $r)))
  (func (export "put_global") (param $r externref)
    (global.set $g (local.get $r)))
  (func (export "get") (param $i i32) (result externref)
    (table.get $t (local.get $i))))
