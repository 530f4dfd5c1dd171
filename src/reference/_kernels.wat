;; WebAssembly SIMD kernels of the reference (src/reference/_wasm.ts runs them).
;; Assembled by `deno task wasm` (scripts/generators/build_wasm.ts, wabt from npm, pinned in deno.json)
;; into src/reference/_wasm_kernels.ts; tests/wasm_test.ts checks that the embedded bytes are this file's.
;;
;; Arithmetic: binary64 in f64x2 lanes, each element's value computed by exactly the operations, in the
;; order, of the TypeScript loop it replaces (no fused multiply-add, no reassociation), then rounded
;; once to float32 (f32x4.demote_f64x2_zero rounds to nearest, ties to even, like a Float32Array store).
;; Results are therefore bit-identical to the TypeScript path (tests/fast_path_test.ts).
;;
;; Memory: one linear memory, exported; the caller places tensors in it and passes byte offsets.
(module
  (memory (export "memory") 1)

  ;; normalize_f32: y[k] = f32(((f64(x[k]) - m) - low) * scale + shift) for one run of `len` float32s
  ;; starting at byte offsets xp (input) and yp (output), with the channel's constants m, low, scale, shift.
  ;; Two elements per step: a 64-bit load of two float32s, promoted to f64x2; a 64-bit store of the two
  ;; results demoted to float32. An odd last element is done alone.
  (func (export "normalize_f32")
    (param $xp i32) (param $yp i32) (param $len i32)
    (param $m f64) (param $low f64) (param $scale f64) (param $shift f64)
    (local $vm v128) (local $vlow v128) (local $vscale v128) (local $vshift v128)
    (local $end i32) (local $pairs i32)
    (local.set $vm (f64x2.splat (local.get $m)))
    (local.set $vlow (f64x2.splat (local.get $low)))
    (local.set $vscale (f64x2.splat (local.get $scale)))
    (local.set $vshift (f64x2.splat (local.get $shift)))
    ;; $pairs: byte offset (from xp) where the pairs end
    (local.set $pairs (i32.shl (i32.and (local.get $len) (i32.const -2)) (i32.const 2)))
    (local.set $end (i32.add (local.get $xp) (local.get $pairs)))
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
)
