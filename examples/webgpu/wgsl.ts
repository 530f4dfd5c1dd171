/**
 * The WGSL of the example WebGPU BatchNorm kernel: one shader module per
 * storage type (`f32`, or `f16` where the adapter offers `shader-f16`), with two
 * entry points. Arithmetic is float32 in both: float16 tensors are widened on
 * load and rounded once on store.
 *
 * - `stats`: one workgroup per channel. Training (and inference without running
 *   statistics): a two-pass mean and biased variance over the channel's n
 *   elements, each thread summing a strided slice with a compensated (Neumaier)
 *   sum, then a compensated tree over the workgroup; the mean is kept as a
 *   float32 pair (value and rounding error) for the second pass and for y; a
 *   channel whose largest |x| exceeds 2^60 is summed scaled by a power of two; then the inverse standard deviation and,
 *   when asked, the running-statistic update. Inference with running statistics:
 *   mean and inverse standard deviation from them.
 * - `normalize`: one thread per element, `y = (x - mean) * (invstd * gamma) + beta`.
 *
 * The tensor is viewed as `[outer, channels, inner]`, so any channel axis works.
 *
 * @module
 */

/** The uniform block, as the host writes it (see `PARAMS_BYTES`). */
const PARAMS = `
struct Params {
  outer: u32,
  channels: u32,
  inner: u32,
  flags: u32,        // bit 0: batch statistics; 1: eps outside the root; 2: invstd 0 for var = eps = 0;
                     // 3: affine; 4: update running statistics; 5: empty batch (use empty_bits)
  eps: f32,
  keep: f32,         // weight of the old running value
  take: f32,         // weight of the batch value
  correction: f32,   // Bessel factor for the running variance (1 when biased)
  empty_bits: u32,   // batch mean and variance of an empty batch, as f32 bits (0 or NaN)
  pad0: u32,
  pad1: u32,
  pad2: u32,
}`;

/** Size of the uniform block in bytes. */
export const PARAMS_BYTES = 48;

/** Flag bits of `Params.flags`. */
export const FLAG = {
  batchStats: 1,
  epsOutside: 2,
  zeroInvStd: 4,
  affine: 8,
  updateRunning: 16,
  empty: 32,
} as const;

/** Threads per workgroup of both entry points. */
export const WORKGROUP = 256;

/**
 * The shader source for a storage type.
 *
 * @param storage `f32`, or `f16` (needs the `shader-f16` feature).
 * @returns WGSL source with entry points `stats` and `normalize`.
 */
export function batchNormWgsl(storage: "f32" | "f16"): string {
  return `${storage === "f16" ? "enable f16;\n" : ""}
alias T = ${storage};
${PARAMS}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<T>;
@group(0) @binding(2) var<storage, read> gamma: array<T>;
@group(0) @binding(3) var<storage, read> beta: array<T>;
@group(0) @binding(4) var<storage, read> running_mean: array<T>;
@group(0) @binding(5) var<storage, read> running_var: array<T>;
// Per channel (4 rows of C), for the normalize pass: mean, invstd, the mean's low part, and the power of
// two sc the channel was scaled by (mean, its low part and 1/invstd are those of x · sc).
@group(0) @binding(6) var<storage, read_write> stats_f32: array<f32>;
// Per channel, 5 rows of C: batch_mean, batch_var, saved_invstd, running_mean, running_var.
@group(0) @binding(7) var<storage, read_write> stat_out: array<T>;
@group(0) @binding(8) var<storage, read_write> y: array<T>;

const WG: u32 = ${WORKGROUP}u;
var<workgroup> hi: array<f32, ${WORKGROUP}>;
var<workgroup> lo: array<f32, ${WORKGROUP}>;

fn at(i: u32, c: u32) -> f32 {
  let o = i / p.inner;
  let k = i - o * p.inner;
  return f32(x[(o * p.channels + c) * p.inner + k]);
}

// Neumaier: s + v with the rounding error carried in comp (none once the sum is not finite:
// inf - inf would turn an infinite sum into NaN).
fn add2(s: ptr<function, f32>, comp: ptr<function, f32>, v: f32) {
  let t = *s + v;
  if (abs(t) <= 3.4028234663852886e38) {
    if (abs(*s) >= abs(v)) { *comp += (*s - t) + v; } else { *comp += (v - t) + *s; }
  }
  *s = t;
}

// Sums hi/lo over the workgroup; every thread returns the total as a pair (hi, lo).
fn reduce(lid: u32, s: f32, comp: f32) -> vec2<f32> {
  hi[lid] = s;
  lo[lid] = comp;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half = half / 2u) {
    if (lid < half) {
      var a = hi[lid];
      var ca = lo[lid] + lo[lid + half];
      add2(&a, &ca, hi[lid + half]);
      hi[lid] = a;
      lo[lid] = ca;
    }
    workgroupBarrier();
  }
  let h = hi[0];
  let l = lo[0];
  workgroupBarrier();
  let t = h + l;
  if (abs(t) > 3.4028234663852886e38) { return vec2<f32>(t, 0.0); }
  return vec2<f32>(t, (h - t) + l);
}

// The inverse standard deviation of values scaled by sc (a power of two): of v = var · sc², with
// epsilon scaled alike, so the result is invstd / sc.
fn inv_std(v: f32, sc: f32) -> f32 {
  if ((p.flags & 4u) != 0u && v == 0.0 && p.eps == 0.0) { return 0.0; }
  if ((p.flags & 2u) != 0u) { return 1.0 / (sqrt(v) + p.eps * sc); }
  return 1.0 / sqrt(v + p.eps * sc * sc);
}

// The largest value over the workgroup.
fn reduce_max(lid: u32, v: f32) -> f32 {
  hi[lid] = v;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half = half / 2u) {
    if (lid < half) { hi[lid] = max(hi[lid], hi[lid + half]); }
    workgroupBarrier();
  }
  let m = hi[0];
  workgroupBarrier();
  return m;
}

@compute @workgroup_size(${WORKGROUP})
fn stats(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let c = wg.x;
  let C = p.channels;
  if ((p.flags & 1u) == 0u) {
    if (lid == 0u) {
      stats_f32[c] = f32(running_mean[c]);
      stats_f32[C + c] = inv_std(f32(running_var[c]), 1.0);
      stats_f32[2u * C + c] = 0.0;
      stats_f32[3u * C + c] = 1.0;
    }
    return;
  }
  let n = p.outer * p.inner;
  var mean: f32;
  var mean_lo = 0.0;
  var variance: f32;
  var sc = 1.0;
  if ((p.flags & 32u) != 0u) {
    mean = bitcast<f32>(p.empty_bits);
    variance = mean;
  } else {
    // Values beyond 2^60 would overflow the sums of x or of (x - mean)²: such a channel is summed
    // scaled by a power of two (exact), so that its largest |x| lies in [128, 256). Not into [0.5, 1):
    // that factor, 2^-128 for x near float32's largest value, is subnormal, and SwiftShader flushes it to 0.
    var m = 0.0;
    for (var i = lid; i < n; i += WG) { m = max(m, abs(at(i, c))); }
    let peak = reduce_max(lid, m);
    if (peak > 1.152921504606846976e18 && peak <= 3.4028234663852886e38) { sc = ldexp(1.0, 8 - frexp(peak).exp); }
    var s = 0.0;
    var comp = 0.0;
    for (var i = lid; i < n; i += WG) { add2(&s, &comp, at(i, c) * sc); }
    // The mean as a pair mean + mean_lo (the float32 mean's own rounding error), so that x - mean
    // stays accurate when the spread is tiny against the mean.
    let total = reduce(lid, s, comp);
    let nf = f32(n);
    mean = total.x / nf;
    if (abs(mean) <= 3.4028234663852886e38) {
      mean_lo = (fma(-mean, nf, total.x) + total.y) / nf;
    }
    s = 0.0;
    comp = 0.0;
    for (var i = lid; i < n; i += WG) {
      let d = (at(i, c) * sc - mean) - mean_lo;
      add2(&s, &comp, d * d);
    }
    let sq = reduce(lid, s, comp);
    variance = (sq.x + sq.y) / nf;
  }
  if (lid != 0u) { return; }
  // Scaled: mean, mean_lo and variance are of x · sc; invstd_s = invstd / sc.
  let invstd_s = inv_std(variance, sc);
  stats_f32[c] = mean;
  stats_f32[C + c] = invstd_s;
  stats_f32[2u * C + c] = mean_lo;
  stats_f32[3u * C + c] = sc;
  mean = mean / sc;
  variance = variance / sc / sc;
  let invstd = invstd_s * sc;
  stat_out[c] = T(mean);
  stat_out[C + c] = T(variance);
  stat_out[2u * C + c] = T(invstd);
  if ((p.flags & 16u) != 0u) {
    stat_out[3u * C + c] = T(p.keep * f32(running_mean[c]) + p.take * mean);
    stat_out[4u * C + c] = T(p.keep * f32(running_var[c]) + p.take * (variance * p.correction));
  }
}

@compute @workgroup_size(${WORKGROUP})
fn normalize(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let total = p.outer * p.channels * p.inner;
  let stride = groups.x * WG;
  for (var i = gid.x; i < total; i += stride) {
    let c = (i / p.inner) % p.channels;
    var scale = stats_f32[p.channels + c];
    var shift = 0.0;
    if ((p.flags & 8u) != 0u) {
      scale = scale * f32(gamma[c]);
      shift = f32(beta[c]);
    }
    let d = (f32(x[i]) * stats_f32[3u * p.channels + c] - stats_f32[c]) - stats_f32[2u * p.channels + c];
    y[i] = T(fma(d, scale, shift));
  }
}
`;
}
