(module
  (type $sig (func (param i32) (result i32)))
  (type $pair (func (param i32 i64) (result i64 i32)))
  (import "env" "imp" (func $imp (param i32) (result i32)))
  (import "env" "g" (global $ig i32))
  (import "env" "t" (table $it 1 funcref))
  (table $ft 4 funcref)
  (table $et 2 externref)
  (memory 1 4)
  (global $gi (mut i32) (i32.const 1))
  (global $gl (mut i64) (i64.const -2))
  (global $ge (mut externref) (ref.null extern))
  (global $gf (mut funcref) (ref.func $ops))
  (global $gc i32 (global.get $ig))
  (global $gd (mut f64) (f64.const -0x1.8p1))
  (func $ops (export "ops") (param $a i32) (param $b i64) (param $e externref) (result i32)
    (local $x i32) (local $y i64) (local $f funcref) (local $p f32) (local $q f64)
    ;; i32 arithmetic/bitwise/comparisons
    local.get $a i32.eqz drop
    local.get $a local.get $a i32.eq drop
    local.get $a local.get $a i32.ne drop
    local.get $a local.get $a i32.lt_s drop
    local.get $a local.get $a i32.lt_u drop
    local.get $a local.get $a i32.gt_s drop
    local.get $a local.get $a i32.gt_u drop
    local.get $a local.get $a i32.le_s drop
    local.get $a local.get $a i32.le_u drop
    local.get $a local.get $a i32.ge_s drop
    local.get $a local.get $a i32.ge_u drop
    local.get $a i32.clz drop
    local.get $a i32.ctz drop
    local.get $a i32.popcnt drop
    local.get $a local.get $a i32.add drop
    local.get $a local.get $a i32.sub drop
    local.get $a local.get $a i32.mul drop
    local.get $a local.get $a i32.div_s drop
    local.get $a local.get $a i32.div_u drop
    local.get $a local.get $a i32.rem_s drop
    local.get $a local.get $a i32.rem_u drop
    local.get $a local.get $a i32.and drop
    local.get $a local.get $a i32.or drop
    local.get $a local.get $a i32.xor drop
    local.get $a local.get $a i32.shl drop
    local.get $a local.get $a i32.shr_s drop
    local.get $a local.get $a i32.shr_u drop
    local.get $a local.get $a i32.rotl drop
    local.get $a local.get $a i32.rotr drop
    ;; i64
    local.get $b i64.eqz drop
    local.get $b local.get $b i64.eq drop
    local.get $b local.get $b i64.ne drop
    local.get $b local.get $b i64.lt_s drop
    local.get $b local.get $b i64.lt_u drop
    local.get $b local.get $b i64.gt_s drop
    local.get $b local.get $b i64.gt_u drop
    local.get $b local.get $b i64.le_s drop
    local.get $b local.get $b i64.le_u drop
    local.get $b local.get $b i64.ge_s drop
    local.get $b local.get $b i64.ge_u drop
    local.get $b i64.clz drop
    local.get $b i64.ctz drop
    local.get $b i64.popcnt drop
    local.get $b local.get $b i64.add drop
    local.get $b local.get $b i64.sub drop
    local.get $b local.get $b i64.mul drop
    local.get $b local.get $b i64.div_s drop
    local.get $b local.get $b i64.div_u drop
    local.get $b local.get $b i64.rem_s drop
    local.get $b local.get $b i64.rem_u drop
    local.get $b local.get $b i64.and drop
    local.get $b local.get $b i64.or drop
    local.get $b local.get $b i64.xor drop
    local.get $b local.get $b i64.shl drop
    local.get $b local.get $b i64.shr_s drop
    local.get $b local.get $b i64.shr_u drop
    local.get $b local.get $b i64.rotl drop
    local.get $b local.get $b i64.rotr drop
    ;; conversions
    local.get $b i32.wrap_i64 drop
    local.get $a i64.extend_i32_s drop
    local.get $a i64.extend_i32_u drop
    local.get $a i32.extend8_s drop
    local.get $a i32.extend16_s drop
    local.get $b i64.extend8_s drop
    local.get $b i64.extend16_s drop
    local.get $b i64.extend32_s drop
    ;; constants, locals, globals
    i32.const -2147483648 local.set $x
    i64.const 0x7fffffffffffffff local.tee $y drop
    global.get $gi global.set $gi
    global.get $gl global.set $gl
    global.get $ge global.set $ge
    global.get $gf global.set $gf
    global.get $gc drop
    ;; parametric
    nop
    local.get $a local.get $a local.get $a select drop
    local.get $e local.get $e local.get $a select (result externref) drop
    ;; references
    ref.null extern ref.is_null drop
    ref.null func ref.is_null drop
    ref.func $ops local.set $f
    ;; tables
    i32.const 0 table.get $et drop
    i32.const 0 local.get $e table.set $et
    table.size $ft drop
    ref.null func i32.const 1 table.grow $ft drop
    i32.const 0 ref.null extern i32.const 1 table.fill $et
    i32.const 0 i32.const 1 i32.const 1 table.copy $ft $it
    i32.const 0 i32.const 0 i32.const 1 table.init $ft $passive
    elem.drop $passive
    ;; memory
    i32.const 0 i32.load drop
    i32.const 0 i64.load drop
    i32.const 0 i32.load8_s drop
    i32.const 0 i32.load8_u drop
    i32.const 0 i32.load16_s drop
    i32.const 0 i32.load16_u drop
    i32.const 0 i64.load8_s drop
    i32.const 0 i64.load8_u drop
    i32.const 0 i64.load16_s drop
    i32.const 0 i64.load16_u drop
    i32.const 0 i64.load32_s drop
    i32.const 0 i64.load32_u offset=8 align=4 drop
    i32.const 0 local.get $a i32.store
    i32.const 0 local.get $b i64.store offset=16 align=8
    i32.const 0 local.get $a i32.store8
    i32.const 0 local.get $a i32.store16
    i32.const 0 local.get $b i64.store8
    i32.const 0 local.get $b i64.store16
    i32.const 0 local.get $b i64.store32
    memory.size drop
    i32.const 1 memory.grow drop
    i32.const 0 i32.const 0 i32.const 1 memory.copy
    i32.const 0 i32.const 0 i32.const 1 memory.fill
    i32.const 0 i32.const 0 i32.const 1 memory.init $pdata
    data.drop $pdata
    ;; floats
    f32.const nan:0x200001 local.set $p
    f64.const -0x1p-1074 local.set $q
    local.get $p local.get $p f32.eq drop
    local.get $p local.get $p f32.ne drop
    local.get $p local.get $p f32.lt drop
    local.get $p local.get $p f32.gt drop
    local.get $p local.get $p f32.le drop
    local.get $p local.get $p f32.ge drop
    local.get $p f32.abs drop
    local.get $p f32.neg drop
    local.get $p f32.ceil drop
    local.get $p f32.floor drop
    local.get $p f32.trunc drop
    local.get $p f32.nearest drop
    local.get $p f32.sqrt drop
    local.get $p local.get $p f32.add drop
    local.get $p local.get $p f32.sub drop
    local.get $p local.get $p f32.mul drop
    local.get $p local.get $p f32.div drop
    local.get $p local.get $p f32.min drop
    local.get $p local.get $p f32.max drop
    local.get $p local.get $p f32.copysign drop
    local.get $q local.get $q f64.eq drop
    local.get $q local.get $q f64.ne drop
    local.get $q local.get $q f64.lt drop
    local.get $q local.get $q f64.gt drop
    local.get $q local.get $q f64.le drop
    local.get $q local.get $q f64.ge drop
    local.get $q f64.abs drop
    local.get $q f64.neg drop
    local.get $q f64.ceil drop
    local.get $q f64.floor drop
    local.get $q f64.trunc drop
    local.get $q f64.nearest drop
    local.get $q f64.sqrt drop
    local.get $q local.get $q f64.add drop
    local.get $q local.get $q f64.sub drop
    local.get $q local.get $q f64.mul drop
    local.get $q local.get $q f64.div drop
    local.get $q local.get $q f64.min drop
    local.get $q local.get $q f64.max drop
    local.get $q local.get $q f64.copysign drop
    local.get $p i32.trunc_f32_s drop
    local.get $p i32.trunc_sat_f32_s drop
    local.get $p i32.trunc_f32_u drop
    local.get $p i32.trunc_sat_f32_u drop
    local.get $q i32.trunc_f64_s drop
    local.get $q i32.trunc_sat_f64_s drop
    local.get $q i32.trunc_f64_u drop
    local.get $q i32.trunc_sat_f64_u drop
    local.get $p i64.trunc_f32_s drop
    local.get $p i64.trunc_sat_f32_s drop
    local.get $p i64.trunc_f32_u drop
    local.get $p i64.trunc_sat_f32_u drop
    local.get $q i64.trunc_f64_s drop
    local.get $q i64.trunc_sat_f64_s drop
    local.get $q i64.trunc_f64_u drop
    local.get $q i64.trunc_sat_f64_u drop
    local.get $a f32.convert_i32_s drop
    local.get $a f32.convert_i32_u drop
    local.get $b f32.convert_i64_s drop
    local.get $b f32.convert_i64_u drop
    local.get $a f64.convert_i32_s drop
    local.get $a f64.convert_i32_u drop
    local.get $b f64.convert_i64_s drop
    local.get $b f64.convert_i64_u drop
    local.get $q f32.demote_f64 drop
    local.get $p f64.promote_f32 drop
    local.get $p i32.reinterpret_f32 drop
    local.get $q i64.reinterpret_f64 drop
    local.get $a f32.reinterpret_i32 drop
    local.get $b f64.reinterpret_i64 drop
    global.get $gd global.set $gd
    local.get $p local.get $p local.get $a select drop
    i32.const 0 f32.load drop
    i32.const 0 f64.load offset=8 drop
    i32.const 0 local.get $p f32.store
    i32.const 0 local.get $q f64.store align=4
    ;; control
    block $done
      loop $l
        local.get $a br_if $done
        local.get $a
        br_table $l $done $l
      end
    end
    i32.const 1 i64.const 2
    block (type $pair) drop drop i64.const 3 i32.const 4 end
    drop drop
    local.get $a
    if (result i32) i32.const 1 else i32.const 2 end
    drop
    local.get $a
    call $imp
    i32.const 0
    call_indirect $ft (type $sig)
    drop
    block br 0 unreachable end
    ;; tail calls (taken only for a = 12345 and 12346)
    local.get $a i32.const 12345 i32.eq
    if local.get $a return_call $imp end
    local.get $a i32.const 12346 i32.eq
    if local.get $a i32.const 0 return_call_indirect $ft (type $sig) end
    local.get $a
    return)
  (func $start)
  (start $start)
  (elem $passive func $ops)
  (elem (table $ft) (i32.const 1) funcref (ref.func $ops) (ref.null func))
  (elem declare func $start)
  (data (i32.const 8) "hello")
  (data $pdata "passive"))
