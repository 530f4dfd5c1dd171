;; WebAssembly SIMD kernels of the reference (src/reference/_wasm.ts runs them).
;; Assembled by `deno task wasm` (scripts/generators/build_wasm.ts, wabt from npm, pinned in deno.json)
;; into src/reference/_wasm_kernels.ts; tests/wasm_test.ts checks that the embedded bytes are this file's.
;;
;; Arithmetic: binary64 in f64x2 lanes, each element's value computed by exactly the operations, in the
;; order, of the TypeScript loop it replaces (no fused multiply-add, no reassociation), then rounded
;; once to float32 (f32x4.demote_f64x2_zero rounds to nearest, ties to even, like a Float32Array store).
;; Results are therefore bit-identical to the TypeScript path (tests/fast_path_test.ts).
;;
;; Memory: one linear memory, imported (env.memory): src/reference/_wasm.ts instantiates the module once for
;; its own growable staging memory and once per KernelArena, whose memory never grows (views into it stay
;; valid). The caller places tensors in it and passes byte offsets. `deno task wasm` also assembles this module with
;; the import made shared, (memory 1 65536 shared), for a KernelArena with two threads (_threads.ts): the same
;; functions, run by the calling thread and a helper worker on different channels of one shared memory.
(module
  (import "env" "memory" (memory 1))

  ;; normalize_f32: y[k] = f32(((f64(x[k]) - m) - low) * scale + shift) for one run of `len` float32s
  ;; starting at byte offsets xp (input) and yp (output), with the channel's constants m, low, scale, shift.
  ;; Two elements per f64x2: a 64-bit load of two float32s, promoted; a 64-bit store of the two results
  ;; demoted to float32. Groups of eight first (128-bit loads and stores), then pairs, then an odd last
  ;; element alone. Every element gets the same operations whichever of these loops handles it.
  (func (export "normalize_f32")
    (param $xp i32) (param $yp i32) (param $len i32)
    (param $m f64) (param $low f64) (param $scale f64) (param $shift f64)
    (local $vm v128) (local $vlow v128) (local $vscale v128) (local $vshift v128)
    (local $end i32) (local $pairs i32) (local $v v128) (local $lo v128) (local $hi v128)
    (local.set $vm (f64x2.splat (local.get $m)))
    (local.set $vlow (f64x2.splat (local.get $low)))
    (local.set $vscale (f64x2.splat (local.get $scale)))
    (local.set $vshift (f64x2.splat (local.get $shift)))
    ;; groups of 8 elements (two 128-bit loads and stores per iteration), then pairs
    (local.set $end (i32.add (local.get $xp) (i32.shl (i32.and (local.get $len) (i32.const -8)) (i32.const 2))))
    (block $groups_done
      (loop $group
        (br_if $groups_done (i32.ge_u (local.get $xp) (local.get $end)))
        ;; elements 0..3: one 128-bit load, its two halves promoted, computed, demoted, stored as one
        (local.set $v (v128.load offset=0 (local.get $xp)))
        (local.set $lo (f64x2.add
            (f64x2.mul (f64x2.sub (f64x2.sub (f64x2.promote_low_f32x4 (local.get $v)) (local.get $vm)) (local.get $vlow)) (local.get $vscale))
            (local.get $vshift)))
        (local.set $hi (f64x2.add
            (f64x2.mul (f64x2.sub (f64x2.sub (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))) (local.get $vm)) (local.get $vlow)) (local.get $vscale))
            (local.get $vshift)))
        (v128.store offset=0 (local.get $yp)
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
            (f32x4.demote_f64x2_zero (local.get $lo)) (f32x4.demote_f64x2_zero (local.get $hi))))
        ;; elements 4..7: one 128-bit load, its two halves promoted, computed, demoted, stored as one
        (local.set $v (v128.load offset=16 (local.get $xp)))
        (local.set $lo (f64x2.add
            (f64x2.mul (f64x2.sub (f64x2.sub (f64x2.promote_low_f32x4 (local.get $v)) (local.get $vm)) (local.get $vlow)) (local.get $vscale))
            (local.get $vshift)))
        (local.set $hi (f64x2.add
            (f64x2.mul (f64x2.sub (f64x2.sub (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))) (local.get $vm)) (local.get $vlow)) (local.get $vscale))
            (local.get $vshift)))
        (v128.store offset=16 (local.get $yp)
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
            (f32x4.demote_f64x2_zero (local.get $lo)) (f32x4.demote_f64x2_zero (local.get $hi))))
        (local.set $xp (i32.add (local.get $xp) (i32.const 32)))
        (local.set $yp (i32.add (local.get $yp) (i32.const 32)))
        (br $group)))
    ;; $pairs: byte offset (from the start) where the pairs end
    (local.set $pairs (i32.shl (i32.and (local.get $len) (i32.const -2)) (i32.const 2)))
    (local.set $end (i32.add (i32.sub (local.get $xp) (i32.shl (i32.and (local.get $len) (i32.const -8)) (i32.const 2))) (local.get $pairs)))
    (block $done
      (loop $pair
        (br_if $done (i32.ge_u (local.get $xp) (local.get $end)))
        (v128.store64_lane 0 (local.get $yp)
          (f32x4.demote_f64x2_zero
            (f64x2.add
              (f64x2.mul
                (f64x2.sub
                  (f64x2.sub
                    (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $xp)))
                    (local.get $vm))
                  (local.get $vlow))
                (local.get $vscale))
              (local.get $vshift))))
        (local.set $xp (i32.add (local.get $xp) (i32.const 8)))
        (local.set $yp (i32.add (local.get $yp) (i32.const 8)))
        (br $pair)))
    ;; the odd element
    (if (i32.and (local.get $len) (i32.const 1))
      (then
        (f32.store (local.get $yp)
          (f32.demote_f64
            (f64.add
              (f64.mul
                (f64.sub
                  (f64.sub (f64.promote_f32 (f32.load (local.get $xp))) (local.get $m))
                  (local.get $low))
                (local.get $scale))
              (local.get $shift)))))))

  ;; ------------------------------------------------------------------------------------------------
  ;; The batch statistics' compensated sums, in the lane order of src/reference/_lanes.ts: within a run
  ;; of `len` float32s at xp, offset i goes to lane i mod 8 while a whole group of 8 remains, the rest
  ;; to the tail lane 8. An accumulator block (at $acc, 144 bytes) holds s of lanes 0..8 then c of
  ;; lanes 0..8 (f64); lanes 0..7 live in four f64x2 registers during the run ($s0..$s3, $c0..$c3),
  ;; the tail lane in scalars. Each addition is a TwoSum: the exact error goes to c (Neumaier).

  ;; sum_f32: adds the run's values to the block at $acc.
  (func (export "sum_f32") (param $xp i32) (param $len i32) (param $acc i32)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $s8 f64)
    (local $c0 v128) (local $c1 v128) (local $c2 v128) (local $c3 v128) (local $c8 f64)
    (local $v v128) (local $t v128) (local $b v128) (local $w f64) (local $ts f64) (local $bs f64)
    (local $full i32) (local $end i32)
    (local.set $s0 (v128.load offset=0 (local.get $acc)))
    (local.set $s1 (v128.load offset=16 (local.get $acc)))
    (local.set $s2 (v128.load offset=32 (local.get $acc)))
    (local.set $s3 (v128.load offset=48 (local.get $acc)))
    (local.set $s8 (f64.load offset=64 (local.get $acc)))
    (local.set $c0 (v128.load offset=72 (local.get $acc)))
    (local.set $c1 (v128.load offset=88 (local.get $acc)))
    (local.set $c2 (v128.load offset=104 (local.get $acc)))
    (local.set $c3 (v128.load offset=120 (local.get $acc)))
    (local.set $c8 (f64.load offset=136 (local.get $acc)))
    (local.set $full (i32.add (local.get $xp) (i32.shl (i32.and (local.get $len) (i32.const -8)) (i32.const 2))))
    (local.set $end (i32.add (local.get $xp) (i32.shl (local.get $len) (i32.const 2))))
    ;; groups of 8: four pairs, each promoted to f64x2
    (block $groups_done
      (loop $group
        (br_if $groups_done (i32.ge_u (local.get $xp) (local.get $full)))
      (local.set $v (f64x2.promote_low_f32x4 (v128.load64_zero offset=0 (local.get $xp))))
      ;; lanes 0,1: TwoSum of $s0 and $v: $c0 += its exact error, $s0 = the rounded sum
      (local.set $t (f64x2.add (local.get $s0) (local.get $v)))
      (local.set $b (f64x2.sub (local.get $t) (local.get $s0)))
      (local.set $c0 (f64x2.add (local.get $c0)
        (f64x2.add (f64x2.sub (local.get $s0) (f64x2.sub (local.get $t) (local.get $b)))
                   (f64x2.sub (local.get $v) (local.get $b)))))
      (local.set $s0 (local.get $t))
      (local.set $v (f64x2.promote_low_f32x4 (v128.load64_zero offset=8 (local.get $xp))))
      ;; lanes 2,3: TwoSum of $s1 and $v: $c1 += its exact error, $s1 = the rounded sum
      (local.set $t (f64x2.add (local.get $s1) (local.get $v)))
      (local.set $b (f64x2.sub (local.get $t) (local.get $s1)))
      (local.set $c1 (f64x2.add (local.get $c1)
        (f64x2.add (f64x2.sub (local.get $s1) (f64x2.sub (local.get $t) (local.get $b)))
                   (f64x2.sub (local.get $v) (local.get $b)))))
      (local.set $s1 (local.get $t))
      (local.set $v (f64x2.promote_low_f32x4 (v128.load64_zero offset=16 (local.get $xp))))
      ;; lanes 4,5: TwoSum of $s2 and $v: $c2 += its exact error, $s2 = the rounded sum
      (local.set $t (f64x2.add (local.get $s2) (local.get $v)))
      (local.set $b (f64x2.sub (local.get $t) (local.get $s2)))
      (local.set $c2 (f64x2.add (local.get $c2)
        (f64x2.add (f64x2.sub (local.get $s2) (f64x2.sub (local.get $t) (local.get $b)))
                   (f64x2.sub (local.get $v) (local.get $b)))))
      (local.set $s2 (local.get $t))
      (local.set $v (f64x2.promote_low_f32x4 (v128.load64_zero offset=24 (local.get $xp))))
      ;; lanes 6,7: TwoSum of $s3 and $v: $c3 += its exact error, $s3 = the rounded sum
      (local.set $t (f64x2.add (local.get $s3) (local.get $v)))
      (local.set $b (f64x2.sub (local.get $t) (local.get $s3)))
      (local.set $c3 (f64x2.add (local.get $c3)
        (f64x2.add (f64x2.sub (local.get $s3) (f64x2.sub (local.get $t) (local.get $b)))
                   (f64x2.sub (local.get $v) (local.get $b)))))
      (local.set $s3 (local.get $t))
      (local.set $xp (i32.add (local.get $xp) (i32.const 32)))
      (br $group)))
    ;; the tail lane
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $xp) (local.get $end)))
        (local.set $w (f64.promote_f32 (f32.load (local.get $xp))))
        (local.set $ts (f64.add (local.get $s8) (local.get $w)))
        (local.set $bs (f64.sub (local.get $ts) (local.get $s8)))
        (local.set $c8 (f64.add (local.get $c8)
          (f64.add (f64.sub (local.get $s8) (f64.sub (local.get $ts) (local.get $bs)))
                   (f64.sub (local.get $w) (local.get $bs)))))
        (local.set $s8 (local.get $ts))
        (local.set $xp (i32.add (local.get $xp) (i32.const 4)))
        (br $tail)))
    (v128.store offset=0 (local.get $acc) (local.get $s0))
    (v128.store offset=16 (local.get $acc) (local.get $s1))
    (v128.store offset=32 (local.get $acc) (local.get $s2))
    (v128.store offset=48 (local.get $acc) (local.get $s3))
    (f64.store offset=64 (local.get $acc) (local.get $s8))
    (v128.store offset=72 (local.get $acc) (local.get $c0))
    (v128.store offset=88 (local.get $acc) (local.get $c1))
    (v128.store offset=104 (local.get $acc) (local.get $c2))
    (v128.store offset=120 (local.get $acc) (local.get $c3))
    (f64.store offset=136 (local.get $acc) (local.get $c8))
  )

  ;; dev_f32: for d = x - m, adds d·d to the block at $acc (squares) and d to the block at $acc + 144.
  (func (export "dev_f32") (param $xp i32) (param $len i32) (param $m f64) (param $acc i32)
    (local $q0 v128) (local $q1 v128) (local $q2 v128) (local $q3 v128) (local $q8 f64)
    (local $qc0 v128) (local $qc1 v128) (local $qc2 v128) (local $qc3 v128) (local $qc8 f64)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $s8 f64)
    (local $c0 v128) (local $c1 v128) (local $c2 v128) (local $c3 v128) (local $c8 f64)
    (local $vm v128) (local $d v128) (local $v v128) (local $t v128) (local $b v128)
    (local $w f64) (local $w2 f64) (local $ts f64) (local $bs f64)
    (local $full i32) (local $end i32)
    (local.set $vm (f64x2.splat (local.get $m)))
    (local.set $q0 (v128.load offset=0 (local.get $acc)))
    (local.set $q1 (v128.load offset=16 (local.get $acc)))
    (local.set $q2 (v128.load offset=32 (local.get $acc)))
    (local.set $q3 (v128.load offset=48 (local.get $acc)))
    (local.set $q8 (f64.load offset=64 (local.get $acc)))
    (local.set $qc0 (v128.load offset=72 (local.get $acc)))
    (local.set $qc1 (v128.load offset=88 (local.get $acc)))
    (local.set $qc2 (v128.load offset=104 (local.get $acc)))
    (local.set $qc3 (v128.load offset=120 (local.get $acc)))
    (local.set $qc8 (f64.load offset=136 (local.get $acc)))
    (local.set $s0 (v128.load offset=144 (local.get $acc)))
    (local.set $s1 (v128.load offset=160 (local.get $acc)))
    (local.set $s2 (v128.load offset=176 (local.get $acc)))
    (local.set $s3 (v128.load offset=192 (local.get $acc)))
    (local.set $s8 (f64.load offset=208 (local.get $acc)))
    (local.set $c0 (v128.load offset=216 (local.get $acc)))
    (local.set $c1 (v128.load offset=232 (local.get $acc)))
    (local.set $c2 (v128.load offset=248 (local.get $acc)))
    (local.set $c3 (v128.load offset=264 (local.get $acc)))
    (local.set $c8 (f64.load offset=280 (local.get $acc)))
    (local.set $full (i32.add (local.get $xp) (i32.shl (i32.and (local.get $len) (i32.const -8)) (i32.const 2))))
    (local.set $end (i32.add (local.get $xp) (i32.shl (local.get $len) (i32.const 2))))
    (block $groups_done
      (loop $group
        (br_if $groups_done (i32.ge_u (local.get $xp) (local.get $full)))
      (local.set $d (f64x2.sub (f64x2.promote_low_f32x4 (v128.load64_zero offset=0 (local.get $xp))) (local.get $vm)))
      (local.set $v (f64x2.mul (local.get $d) (local.get $d)))
      ;; lanes 0,1, squares: TwoSum of $q0 and $v: $qc0 += its exact error, $q0 = the rounded sum
      (local.set $t (f64x2.add (local.get $q0) (local.get $v)))
      (local.set $b (f64x2.sub (local.get $t) (local.get $q0)))
      (local.set $qc0 (f64x2.add (local.get $qc0)
        (f64x2.add (f64x2.sub (local.get $q0) (f64x2.sub (local.get $t) (local.get $b)))
                   (f64x2.sub (local.get $v) (local.get $b)))))
      (local.set $q0 (local.get $t))
      ;; lanes 0,1, deviations: TwoSum of $s0 and $d: $c0 += its exact error, $s0 = the rounded sum
      (local.set $t (f64x2.add (local.get $s0) (local.get $d)))
      (local.set $b (f64x2.sub (local.get $t) (local.get $s0)))
      (local.set $c0 (f64x2.add (local.get $c0)
        (f64x2.add (f64x2.sub (local.get $s0) (f64x2.sub (local.get $t) (local.get $b)))
                   (f64x2.sub (local.get $d) (local.get $b)))))
      (local.set $s0 (local.get $t))
      (local.set $d (f64x2.sub (f64x2.promote_low_f32x4 (v128.load64_zero offset=8 (local.get $xp))) (local.get $vm)))
      (local.set $v (f64x2.mul (local.get $d) (local.get $d)))
      ;; lanes 2,3, squares: TwoSum of $q1 and $v: $qc1 += its exact error, $q1 = the rounded sum
      (local.set $t (f64x2.add (local.get $q1) (local.get $v)))
      (local.set $b (f64x2.sub (local.get $t) (local.get $q1)))
      (local.set $qc1 (f64x2.add (local.get $qc1)
        (f64x2.add (f64x2.sub (local.get $q1) (f64x2.sub (local.get $t) (local.get $b)))
                   (f64x2.sub (local.get $v) (local.get $b)))))
      (local.set $q1 (local.get $t))
      ;; lanes 2,3, deviations: TwoSum of $s1 and $d: $c1 += its exact error, $s1 = the rounded sum
      (local.set $t (f64x2.add (local.get $s1) (local.get $d)))
      (local.set $b (f64x2.sub (local.get $t) (local.get $s1)))
      (local.set $c1 (f64x2.add (local.get $c1)
        (f64x2.add (f64x2.sub (local.get $s1) (f64x2.sub (local.get $t) (local.get $b)))
                   (f64x2.sub (local.get $d) (local.get $b)))))
      (local.set $s1 (local.get $t))
      (local.set $d (f64x2.sub (f64x2.promote_low_f32x4 (v128.load64_zero offset=16 (local.get $xp))) (local.get $vm)))
      (local.set $v (f64x2.mul (local.get $d) (local.get $d)))
      ;; lanes 4,5, squares: TwoSum of $q2 and $v: $qc2 += its exact error, $q2 = the rounded sum
      (local.set $t (f64x2.add (local.get $q2) (local.get $v)))
      (local.set $b (f64x2.sub (local.get $t) (local.get $q2)))
      (local.set $qc2 (f64x2.add (local.get $qc2)
        (f64x2.add (f64x2.sub (local.get $q2) (f64x2.sub (local.get $t) (local.get $b)))
                   (f64x2.sub (local.get $v) (local.get $b)))))
      (local.set $q2 (local.get $t))
      ;; lanes 4,5, deviations: TwoSum of $s2 and $d: $c2 += its exact error, $s2 = the rounded sum
      (local.set $t (f64x2.add (local.get $s2) (local.get $d)))
      (local.set $b (f64x2.sub (local.get $t) (local.get $s2)))
      (local.set $c2 (f64x2.add (local.get $c2)
        (f64x2.add (f64x2.sub (local.get $s2) (f64x2.sub (local.get $t) (local.get $b)))
                   (f64x2.sub (local.get $d) (local.get $b)))))
      (local.set $s2 (local.get $t))
      (local.set $d (f64x2.sub (f64x2.promote_low_f32x4 (v128.load64_zero offset=24 (local.get $xp))) (local.get $vm)))
      (local.set $v (f64x2.mul (local.get $d) (local.get $d)))
      ;; lanes 6,7, squares: TwoSum of $q3 and $v: $qc3 += its exact error, $q3 = the rounded sum
      (local.set $t (f64x2.add (local.get $q3) (local.get $v)))
      (local.set $b (f64x2.sub (local.get $t) (local.get $q3)))
      (local.set $qc3 (f64x2.add (local.get $qc3)
        (f64x2.add (f64x2.sub (local.get $q3) (f64x2.sub (local.get $t) (local.get $b)))
                   (f64x2.sub (local.get $v) (local.get $b)))))
      (local.set $q3 (local.get $t))
      ;; lanes 6,7, deviations: TwoSum of $s3 and $d: $c3 += its exact error, $s3 = the rounded sum
      (local.set $t (f64x2.add (local.get $s3) (local.get $d)))
      (local.set $b (f64x2.sub (local.get $t) (local.get $s3)))
      (local.set $c3 (f64x2.add (local.get $c3)
        (f64x2.add (f64x2.sub (local.get $s3) (f64x2.sub (local.get $t) (local.get $b)))
                   (f64x2.sub (local.get $d) (local.get $b)))))
      (local.set $s3 (local.get $t))
      (local.set $xp (i32.add (local.get $xp) (i32.const 32)))
      (br $group)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $xp) (local.get $end)))
        (local.set $w (f64.sub (f64.promote_f32 (f32.load (local.get $xp))) (local.get $m)))
        (local.set $w2 (f64.mul (local.get $w) (local.get $w)))
        (local.set $ts (f64.add (local.get $q8) (local.get $w2)))
        (local.set $bs (f64.sub (local.get $ts) (local.get $q8)))
        (local.set $qc8 (f64.add (local.get $qc8)
          (f64.add (f64.sub (local.get $q8) (f64.sub (local.get $ts) (local.get $bs)))
                   (f64.sub (local.get $w2) (local.get $bs)))))
        (local.set $q8 (local.get $ts))
        (local.set $ts (f64.add (local.get $s8) (local.get $w)))
        (local.set $bs (f64.sub (local.get $ts) (local.get $s8)))
        (local.set $c8 (f64.add (local.get $c8)
          (f64.add (f64.sub (local.get $s8) (f64.sub (local.get $ts) (local.get $bs)))
                   (f64.sub (local.get $w) (local.get $bs)))))
        (local.set $s8 (local.get $ts))
        (local.set $xp (i32.add (local.get $xp) (i32.const 4)))
        (br $tail)))
    (v128.store offset=0 (local.get $acc) (local.get $q0))
    (v128.store offset=16 (local.get $acc) (local.get $q1))
    (v128.store offset=32 (local.get $acc) (local.get $q2))
    (v128.store offset=48 (local.get $acc) (local.get $q3))
    (f64.store offset=64 (local.get $acc) (local.get $q8))
    (v128.store offset=72 (local.get $acc) (local.get $qc0))
    (v128.store offset=88 (local.get $acc) (local.get $qc1))
    (v128.store offset=104 (local.get $acc) (local.get $qc2))
    (v128.store offset=120 (local.get $acc) (local.get $qc3))
    (f64.store offset=136 (local.get $acc) (local.get $qc8))
    (v128.store offset=144 (local.get $acc) (local.get $s0))
    (v128.store offset=160 (local.get $acc) (local.get $s1))
    (v128.store offset=176 (local.get $acc) (local.get $s2))
    (v128.store offset=192 (local.get $acc) (local.get $s3))
    (f64.store offset=208 (local.get $acc) (local.get $s8))
    (v128.store offset=216 (local.get $acc) (local.get $c0))
    (v128.store offset=232 (local.get $acc) (local.get $c1))
    (v128.store offset=248 (local.get $acc) (local.get $c2))
    (v128.store offset=264 (local.get $acc) (local.get $c3))
    (f64.store offset=280 (local.get $acc) (local.get $c8))
  )

  ;; ------------------------------------------------------------------------------------------------
  ;; Backward (float32): the two compensated sums in the lane order of _lanes.ts, then dx by one of the
  ;; three formulas of batch_norm.ts, each operation as there (left to right), rounded once to float32.

  ;; bsum_f32: backward's sums over a run, dy (gp) into the block at $acc and dy·xhat into the block at
  ;; $acc + 144, with dy·xhat computed as (dy · ((x - m) - low)) · invStd, left to right as in _lanes.ts.
  (func (export "bsum_f32") (param $xp i32) (param $gp i32) (param $len i32)
    (param $m f64) (param $low f64) (param $inv f64) (param $acc i32)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $s8 f64)
    (local $c0 v128) (local $c1 v128) (local $c2 v128) (local $c3 v128) (local $c8 f64)
    (local $q0 v128) (local $q1 v128) (local $q2 v128) (local $q3 v128) (local $q8 f64)
    (local $qc0 v128) (local $qc1 v128) (local $qc2 v128) (local $qc3 v128) (local $qc8 f64)
    (local $vm v128) (local $vlow v128) (local $vinv v128) (local $g v128) (local $v v128) (local $t v128) (local $b v128)
    (local $w f64) (local $w2 f64) (local $ts f64) (local $bs f64)
    (local $full i32) (local $end i32)
    (local.set $vm (f64x2.splat (local.get $m)))
    (local.set $vlow (f64x2.splat (local.get $low)))
    (local.set $vinv (f64x2.splat (local.get $inv)))
    (local.set $s0 (v128.load offset=0 (local.get $acc)))
    (local.set $s1 (v128.load offset=16 (local.get $acc)))
    (local.set $s2 (v128.load offset=32 (local.get $acc)))
    (local.set $s3 (v128.load offset=48 (local.get $acc)))
    (local.set $s8 (f64.load offset=64 (local.get $acc)))
    (local.set $c0 (v128.load offset=72 (local.get $acc)))
    (local.set $c1 (v128.load offset=88 (local.get $acc)))
    (local.set $c2 (v128.load offset=104 (local.get $acc)))
    (local.set $c3 (v128.load offset=120 (local.get $acc)))
    (local.set $c8 (f64.load offset=136 (local.get $acc)))
    (local.set $q0 (v128.load offset=144 (local.get $acc)))
    (local.set $q1 (v128.load offset=160 (local.get $acc)))
    (local.set $q2 (v128.load offset=176 (local.get $acc)))
    (local.set $q3 (v128.load offset=192 (local.get $acc)))
    (local.set $q8 (f64.load offset=208 (local.get $acc)))
    (local.set $qc0 (v128.load offset=216 (local.get $acc)))
    (local.set $qc1 (v128.load offset=232 (local.get $acc)))
    (local.set $qc2 (v128.load offset=248 (local.get $acc)))
    (local.set $qc3 (v128.load offset=264 (local.get $acc)))
    (local.set $qc8 (f64.load offset=280 (local.get $acc)))
    (local.set $full (i32.add (local.get $xp) (i32.shl (i32.and (local.get $len) (i32.const -8)) (i32.const 2))))
    (local.set $end (i32.add (local.get $xp) (i32.shl (local.get $len) (i32.const 2))))
    (block $groups_done
      (loop $group
        (br_if $groups_done (i32.ge_u (local.get $xp) (local.get $full)))
      (local.set $g (f64x2.promote_low_f32x4 (v128.load64_zero offset=0 (local.get $gp))))
      (local.set $v (f64x2.mul
        (f64x2.mul (local.get $g)
          (f64x2.sub (f64x2.sub (f64x2.promote_low_f32x4 (v128.load64_zero offset=0 (local.get $xp))) (local.get $vm))
                     (local.get $vlow)))
        (local.get $vinv)))
      ;; lanes 0,1: dy
      (local.set $t (f64x2.add (local.get $s0) (local.get $g)))
      (local.set $b (f64x2.sub (local.get $t) (local.get $s0)))
      (local.set $c0 (f64x2.add (local.get $c0)
        (f64x2.add (f64x2.sub (local.get $s0) (f64x2.sub (local.get $t) (local.get $b)))
                   (f64x2.sub (local.get $g) (local.get $b)))))
      (local.set $s0 (local.get $t))
      ;; lanes 0,1: dy·xhat
      (local.set $t (f64x2.add (local.get $q0) (local.get $v)))
      (local.set $b (f64x2.sub (local.get $t) (local.get $q0)))
      (local.set $qc0 (f64x2.add (local.get $qc0)
        (f64x2.add (f64x2.sub (local.get $q0) (f64x2.sub (local.get $t) (local.get $b)))
                   (f64x2.sub (local.get $v) (local.get $b)))))
      (local.set $q0 (local.get $t))
      (local.set $g (f64x2.promote_low_f32x4 (v128.load64_zero offset=8 (local.get $gp))))
      (local.set $v (f64x2.mul
        (f64x2.mul (local.get $g)
          (f64x2.sub (f64x2.sub (f64x2.promote_low_f32x4 (v128.load64_zero offset=8 (local.get $xp))) (local.get $vm))
                     (local.get $vlow)))
        (local.get $vinv)))
      ;; lanes 2,3: dy
      (local.set $t (f64x2.add (local.get $s1) (local.get $g)))
      (local.set $b (f64x2.sub (local.get $t) (local.get $s1)))
      (local.set $c1 (f64x2.add (local.get $c1)
        (f64x2.add (f64x2.sub (local.get $s1) (f64x2.sub (local.get $t) (local.get $b)))
                   (f64x2.sub (local.get $g) (local.get $b)))))
      (local.set $s1 (local.get $t))
      ;; lanes 2,3: dy·xhat
      (local.set $t (f64x2.add (local.get $q1) (local.get $v)))
      (local.set $b (f64x2.sub (local.get $t) (local.get $q1)))
      (local.set $qc1 (f64x2.add (local.get $qc1)
        (f64x2.add (f64x2.sub (local.get $q1) (f64x2.sub (local.get $t) (local.get $b)))
                   (f64x2.sub (local.get $v) (local.get $b)))))
      (local.set $q1 (local.get $t))
      (local.set $g (f64x2.promote_low_f32x4 (v128.load64_zero offset=16 (local.get $gp))))
      (local.set $v (f64x2.mul
        (f64x2.mul (local.get $g)
          (f64x2.sub (f64x2.sub (f64x2.promote_low_f32x4 (v128.load64_zero offset=16 (local.get $xp))) (local.get $vm))
                     (local.get $vlow)))
        (local.get $vinv)))
      ;; lanes 4,5: dy
      (local.set $t (f64x2.add (local.get $s2) (local.get $g)))
      (local.set $b (f64x2.sub (local.get $t) (local.get $s2)))
      (local.set $c2 (f64x2.add (local.get $c2)
        (f64x2.add (f64x2.sub (local.get $s2) (f64x2.sub (local.get $t) (local.get $b)))
                   (f64x2.sub (local.get $g) (local.get $b)))))
      (local.set $s2 (local.get $t))
      ;; lanes 4,5: dy·xhat
      (local.set $t (f64x2.add (local.get $q2) (local.get $v)))
      (local.set $b (f64x2.sub (local.get $t) (local.get $q2)))
      (local.set $qc2 (f64x2.add (local.get $qc2)
        (f64x2.add (f64x2.sub (local.get $q2) (f64x2.sub (local.get $t) (local.get $b)))
                   (f64x2.sub (local.get $v) (local.get $b)))))
      (local.set $q2 (local.get $t))
      (local.set $g (f64x2.promote_low_f32x4 (v128.load64_zero offset=24 (local.get $gp))))
      (local.set $v (f64x2.mul
        (f64x2.mul (local.get $g)
          (f64x2.sub (f64x2.sub (f64x2.promote_low_f32x4 (v128.load64_zero offset=24 (local.get $xp))) (local.get $vm))
                     (local.get $vlow)))
        (local.get $vinv)))
      ;; lanes 6,7: dy
      (local.set $t (f64x2.add (local.get $s3) (local.get $g)))
      (local.set $b (f64x2.sub (local.get $t) (local.get $s3)))
      (local.set $c3 (f64x2.add (local.get $c3)
        (f64x2.add (f64x2.sub (local.get $s3) (f64x2.sub (local.get $t) (local.get $b)))
                   (f64x2.sub (local.get $g) (local.get $b)))))
      (local.set $s3 (local.get $t))
      ;; lanes 6,7: dy·xhat
      (local.set $t (f64x2.add (local.get $q3) (local.get $v)))
      (local.set $b (f64x2.sub (local.get $t) (local.get $q3)))
      (local.set $qc3 (f64x2.add (local.get $qc3)
        (f64x2.add (f64x2.sub (local.get $q3) (f64x2.sub (local.get $t) (local.get $b)))
                   (f64x2.sub (local.get $v) (local.get $b)))))
      (local.set $q3 (local.get $t))
      (local.set $xp (i32.add (local.get $xp) (i32.const 32)))
      (local.set $gp (i32.add (local.get $gp) (i32.const 32)))
      (br $group)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $xp) (local.get $end)))
        (local.set $w (f64.promote_f32 (f32.load (local.get $gp))))
        (local.set $w2 (f64.mul
          (f64.mul (local.get $w)
            (f64.sub (f64.sub (f64.promote_f32 (f32.load (local.get $xp))) (local.get $m)) (local.get $low)))
          (local.get $inv)))
        (local.set $ts (f64.add (local.get $s8) (local.get $w)))
        (local.set $bs (f64.sub (local.get $ts) (local.get $s8)))
        (local.set $c8 (f64.add (local.get $c8)
          (f64.add (f64.sub (local.get $s8) (f64.sub (local.get $ts) (local.get $bs)))
                   (f64.sub (local.get $w) (local.get $bs)))))
        (local.set $s8 (local.get $ts))
        (local.set $ts (f64.add (local.get $q8) (local.get $w2)))
        (local.set $bs (f64.sub (local.get $ts) (local.get $q8)))
        (local.set $qc8 (f64.add (local.get $qc8)
          (f64.add (f64.sub (local.get $q8) (f64.sub (local.get $ts) (local.get $bs)))
                   (f64.sub (local.get $w2) (local.get $bs)))))
        (local.set $q8 (local.get $ts))
        (local.set $xp (i32.add (local.get $xp) (i32.const 4)))
        (local.set $gp (i32.add (local.get $gp) (i32.const 4)))
        (br $tail)))
    (v128.store offset=0 (local.get $acc) (local.get $s0))
    (v128.store offset=16 (local.get $acc) (local.get $s1))
    (v128.store offset=32 (local.get $acc) (local.get $s2))
    (v128.store offset=48 (local.get $acc) (local.get $s3))
    (f64.store offset=64 (local.get $acc) (local.get $s8))
    (v128.store offset=72 (local.get $acc) (local.get $c0))
    (v128.store offset=88 (local.get $acc) (local.get $c1))
    (v128.store offset=104 (local.get $acc) (local.get $c2))
    (v128.store offset=120 (local.get $acc) (local.get $c3))
    (f64.store offset=136 (local.get $acc) (local.get $c8))
    (v128.store offset=144 (local.get $acc) (local.get $q0))
    (v128.store offset=160 (local.get $acc) (local.get $q1))
    (v128.store offset=176 (local.get $acc) (local.get $q2))
    (v128.store offset=192 (local.get $acc) (local.get $q3))
    (f64.store offset=208 (local.get $acc) (local.get $q8))
    (v128.store offset=216 (local.get $acc) (local.get $qc0))
    (v128.store offset=232 (local.get $acc) (local.get $qc1))
    (v128.store offset=248 (local.get $acc) (local.get $qc2))
    (v128.store offset=264 (local.get $acc) (local.get $qc3))
    (f64.store offset=280 (local.get $acc) (local.get $qc8))
  )

  ;; dx_eval_f32: dx = dy · a (a = gamma·invStd; x unused)
  (func (export "dx_eval_f32") (param $xp i32) (param $gp i32) (param $yp i32) (param $len i32) (param $a f64)
    (local $va v128) (local $g v128) (local $gs f64) (local $end i32)
    (local.set $va (f64x2.splat (local.get $a)))
    (local.set $end (i32.add (local.get $gp) (i32.shl (i32.and (local.get $len) (i32.const -2)) (i32.const 2))))
    (block $done
      (loop $pair
        (br_if $done (i32.ge_u (local.get $gp) (local.get $end)))
        (local.set $g (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $gp))))
        (v128.store64_lane 0 (local.get $yp) (f32x4.demote_f64x2_zero (f64x2.mul (local.get $g) (local.get $va))))
        (local.set $gp (i32.add (local.get $gp) (i32.const 8)))
        (local.set $yp (i32.add (local.get $yp) (i32.const 8)))
        (br $pair)))
    (if (i32.and (local.get $len) (i32.const 1))
      (then
        (local.set $gs (f64.promote_f32 (f32.load (local.get $gp))))
        (f32.store (local.get $yp) (f32.demote_f64 (f64.mul (local.get $gs) (local.get $a)))))))

  ;; dx_inside_f32: dx = second · ((dy - a) - (((x - m) - low) · invStd) · b)
  (func (export "dx_inside_f32") (param $xp i32) (param $gp i32) (param $yp i32) (param $len i32) (param $m f64) (param $low f64) (param $inv f64) (param $a f64) (param $b f64) (param $second f64)
    (local $vm v128) (local $vlow v128) (local $vinv v128) (local $va v128) (local $vb v128) (local $vsecond v128) (local $g v128) (local $x v128) (local $gs f64) (local $xs f64) (local $end i32)
    (local.set $vm (f64x2.splat (local.get $m)))
    (local.set $vlow (f64x2.splat (local.get $low)))
    (local.set $vinv (f64x2.splat (local.get $inv)))
    (local.set $va (f64x2.splat (local.get $a)))
    (local.set $vb (f64x2.splat (local.get $b)))
    (local.set $vsecond (f64x2.splat (local.get $second)))
    (local.set $end (i32.add (local.get $gp) (i32.shl (i32.and (local.get $len) (i32.const -2)) (i32.const 2))))
    (block $done
      (loop $pair
        (br_if $done (i32.ge_u (local.get $gp) (local.get $end)))
        (local.set $g (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $gp))))
        (local.set $x (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $xp))))
        (v128.store64_lane 0 (local.get $yp) (f32x4.demote_f64x2_zero (f64x2.mul (local.get $vsecond) (f64x2.sub (f64x2.sub (local.get $g) (local.get $va)) (f64x2.mul (f64x2.mul (f64x2.sub (f64x2.sub (local.get $x) (local.get $vm)) (local.get $vlow)) (local.get $vinv)) (local.get $vb))))))
        (local.set $xp (i32.add (local.get $xp) (i32.const 8)))
        (local.set $gp (i32.add (local.get $gp) (i32.const 8)))
        (local.set $yp (i32.add (local.get $yp) (i32.const 8)))
        (br $pair)))
    (if (i32.and (local.get $len) (i32.const 1))
      (then
        (local.set $gs (f64.promote_f32 (f32.load (local.get $gp))))
        (local.set $xs (f64.promote_f32 (f32.load (local.get $xp))))
        (f32.store (local.get $yp) (f32.demote_f64 (f64.mul (local.get $second) (f64.sub (f64.sub (local.get $gs) (local.get $a)) (f64.mul (f64.mul (f64.sub (f64.sub (local.get $xs) (local.get $m)) (local.get $low)) (local.get $inv)) (local.get $b)))))))))

  ;; dx_outside_f32: dx = gamma · ((dy - a) · invStd - ((x - m) - low) · second)
  (func (export "dx_outside_f32") (param $xp i32) (param $gp i32) (param $yp i32) (param $len i32) (param $m f64) (param $low f64) (param $inv f64) (param $a f64) (param $second f64) (param $gamma f64)
    (local $vm v128) (local $vlow v128) (local $vinv v128) (local $va v128) (local $vsecond v128) (local $vgamma v128) (local $g v128) (local $x v128) (local $gs f64) (local $xs f64) (local $end i32)
    (local.set $vm (f64x2.splat (local.get $m)))
    (local.set $vlow (f64x2.splat (local.get $low)))
    (local.set $vinv (f64x2.splat (local.get $inv)))
    (local.set $va (f64x2.splat (local.get $a)))
    (local.set $vsecond (f64x2.splat (local.get $second)))
    (local.set $vgamma (f64x2.splat (local.get $gamma)))
    (local.set $end (i32.add (local.get $gp) (i32.shl (i32.and (local.get $len) (i32.const -2)) (i32.const 2))))
    (block $done
      (loop $pair
        (br_if $done (i32.ge_u (local.get $gp) (local.get $end)))
        (local.set $g (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $gp))))
        (local.set $x (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $xp))))
        (v128.store64_lane 0 (local.get $yp) (f32x4.demote_f64x2_zero (f64x2.mul (local.get $vgamma) (f64x2.sub (f64x2.mul (f64x2.sub (local.get $g) (local.get $va)) (local.get $vinv)) (f64x2.mul (f64x2.sub (f64x2.sub (local.get $x) (local.get $vm)) (local.get $vlow)) (local.get $vsecond))))))
        (local.set $xp (i32.add (local.get $xp) (i32.const 8)))
        (local.set $gp (i32.add (local.get $gp) (i32.const 8)))
        (local.set $yp (i32.add (local.get $yp) (i32.const 8)))
        (br $pair)))
    (if (i32.and (local.get $len) (i32.const 1))
      (then
        (local.set $gs (f64.promote_f32 (f32.load (local.get $gp))))
        (local.set $xs (f64.promote_f32 (f32.load (local.get $xp))))
        (f32.store (local.get $yp) (f32.demote_f64 (f64.mul (local.get $gamma) (f64.sub (f64.mul (f64.sub (local.get $gs) (local.get $a)) (local.get $inv)) (f64.mul (f64.sub (f64.sub (local.get $xs) (local.get $m)) (local.get $low)) (local.get $second)))))))))
)
