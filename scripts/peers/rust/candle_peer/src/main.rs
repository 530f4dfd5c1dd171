//! candle (`candle-nn` 0.11.1, CPU) behind the subprocess protocol of fixtures/PROTOCOL.md.
//!
//!     deno task conform --exec scripts/peers/rust/target/release/candle_peer
//!     scripts/peers/rust/target/release/candle_peer --bench 32,64,56,56 30
//!
//! Each step builds `candle_nn::BatchNorm` (`new_with_momentum`, or `new_no_bias_with_momentum`
//! without affine) from the step's state and calls `forward_t(x, train)`; gradients come from
//! candle's own backprop (`Tensor::backward` of sum(y·dy)), with x, gamma and beta as `Var`s.
//! candle computes float16/bfloat16 training in float32 (batch_norm.rs:198-201) and keeps the
//! running statistics in that dtype, so they are given to it in float32 there and rounded back.
//! candle has no batch counter and no switch for running statistics: `num_batches_tracked` is
//! the state's count plus one (bookkeeping), and without tracking both modes take the training
//! path (batch statistics), with placeholder running statistics that are not answered.

use bnproto::{Answer, Config, Engine, Refusal, Step, Tensor as T};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{BatchNorm, ModuleT};
use serde_json::{json, Value};

struct Candle;

fn dtype_of(name: &str) -> Result<DType, Refusal> {
    Ok(match name {
        "float64" => DType::F64,
        "float32" => DType::F32,
        "float16" => DType::F16,
        "bfloat16" => DType::BF16,
        other => return Err(Refusal::new("unsupported_dtype", format!("candle peer: no dtype {other}"))),
    })
}

fn fail(e: candle_core::Error) -> Refusal {
    // candle appends a backtrace to some errors: the first line is the message.
    let m = e.to_string().lines().next().unwrap_or("").to_string();
    Refusal::new(&bnproto::panic_code(&m), m)
}

fn tensor(t: &T, dt: DType) -> Result<Tensor, Refusal> {
    Tensor::from_vec(t.data.clone(), t.shape.clone(), &Device::Cpu).and_then(|x| x.to_dtype(dt)).map_err(fail)
}

fn back(t: &Tensor, dt: DType) -> Result<T, Refusal> {
    let shape = t.dims().to_vec();
    let data = t.to_dtype(dt).and_then(|t| t.to_dtype(DType::F64)).and_then(|t| t.flatten_all()).and_then(|t| t.to_vec1::<f64>());
    Ok(T { shape, data: data.map_err(fail)? })
}

fn defaults() -> Config {
    Config {
    epsilon: 1e-5,
    momentum: Some(0.1),
    momentum_kind: "new".into(),
    affine: true,
    track_running_stats: true,
    axis: 1,
    }
}

impl Engine for Candle {
    fn name(&self) -> String {
        "candle-nn 0.11.1 BatchNorm (CPU), Rust".into()
    }

    fn supports(&self) -> Value {
        json!({
            "modes": ["train", "eval"],
            "backward": true,
            "errors": true,
            "dtypes": ["float64", "float32", "float16", "bfloat16"],
            "layouts": ["channels-first"],
            "outputs": ["y", "dx", "dgamma", "dbeta", "running_mean", "running_var"],
            "conventions": {
                "epsilon_floor": [0], "epsilon_placement": ["inside"], "momentum_kind": ["new"],
                "running_variance": ["bessel"], "single_value_training": ["allow"],
                "zero_variance_invstd": ["ieee"], "empty_batch": ["nan"]
            }
        })
    }

    fn step(&self, dtype: &str, config: &Value, s: &Step) -> Result<Answer, Refusal> {
        let cfg = Config::read(config, &defaults())?;
        if cfg.axis != 1 && cfg.axis != -(s.x.shape.len() as i64) + 1 {
            return Err(Refusal::new("invalid_axis", "candle's BatchNorm normalizes axis 1 only"));
        }
        let dt = dtype_of(dtype)?;
        let internal = if matches!(dt, DType::F16 | DType::BF16) { DType::F32 } else { dt };
        let c = *s.x.shape.get(1).ok_or_else(|| Refusal::new("invalid_shape", "x has rank < 2"))?;
        let batch_stats = s.train || !cfg.track_running_stats;
        let stats_dt = if batch_stats { internal } else { dt };
        let missing = |k: &str| Refusal::new("missing_state", format!("state.{k} is missing"));
        let (rm, rv) = if cfg.track_running_stats {
            (
                tensor(s.state.running_mean.as_ref().ok_or_else(|| missing("running_mean"))?, stats_dt)?,
                tensor(s.state.running_var.as_ref().ok_or_else(|| missing("running_var"))?, stats_dt)?,
            )
        } else {
            (
                Tensor::zeros(c, stats_dt, &Device::Cpu).map_err(fail)?,
                Tensor::ones(c, stats_dt, &Device::Cpu).map_err(fail)?,
            )
        };
        let x = Var::from_tensor(&tensor(&s.x, dt)?).map_err(fail)?;
        let momentum = cfg.momentum.unwrap_or(0.1);
        let params = if cfg.affine {
            let g = Var::from_tensor(&tensor(s.state.gamma.as_ref().ok_or_else(|| missing("gamma"))?, dt)?).map_err(fail)?;
            let b = Var::from_tensor(&tensor(s.state.beta.as_ref().ok_or_else(|| missing("beta"))?, dt)?).map_err(fail)?;
            Some((g, b))
        } else {
            None
        };
        let bn = match &params {
            Some((g, b)) => BatchNorm::new_with_momentum(c, rm, rv, g.as_tensor().clone(), b.as_tensor().clone(), cfg.epsilon, momentum),
            None => BatchNorm::new_no_bias_with_momentum(c, rm, rv, cfg.epsilon, momentum),
        }
        .map_err(fail)?;
        let y = bn.forward_t(x.as_tensor(), batch_stats).map_err(fail)?;
        let mut a = Answer::default();
        a.outputs.push(("y".into(), back(&y, dt)?));
        if s.train && cfg.track_running_stats {
            a.outputs.push(("running_mean".into(), back(bn.running_mean(), dt)?));
            a.outputs.push(("running_var".into(), back(bn.running_var(), dt)?));
            a.num_batches_tracked = Some(s.state.num_batches_tracked.unwrap_or(0) + 1);
        }
        if let Some(dy) = &s.dy {
            let loss = (&y * tensor(dy, dt)?).and_then(|p| p.sum_all()).map_err(fail)?;
            let grads = loss.backward().map_err(fail)?;
            let grad = |t: &Tensor| -> Result<T, Refusal> {
                match grads.get(t) {
                    Some(g) => back(g, dt),
                    None => back(&t.zeros_like().map_err(fail)?, dt),
                }
            };
            a.outputs.push(("dx".into(), grad(x.as_tensor())?));
            if let Some((g, b)) = &params {
                a.outputs.push(("dgamma".into(), grad(g.as_tensor())?));
                a.outputs.push(("dbeta".into(), grad(b.as_tensor())?));
            }
        }
        Ok(a)
    }
}

fn bench(shape: Vec<usize>, repeats: usize) -> candle_core::Result<()> {
    let dev = Device::Cpu;
    let c = shape[1];
    let n: usize = shape.iter().product();
    let x = Var::from_tensor(&Tensor::from_vec(bnproto::bench_data(n), shape.clone(), &dev)?)?;
    let dy = Tensor::from_vec(bnproto::bench_data(n + 7)[7..].to_vec(), shape.clone(), &dev)?;
    let g = Var::from_tensor(&Tensor::ones(c, DType::F32, &dev)?)?;
    let b = Var::from_tensor(&Tensor::zeros(c, DType::F32, &dev)?)?;
    let bn = BatchNorm::new_with_momentum(
        c,
        Tensor::zeros(c, DType::F32, &dev)?,
        Tensor::ones(c, DType::F32, &dev)?,
        g.as_tensor().clone(),
        b.as_tensor().clone(),
        1e-5,
        0.1,
    )?;
    let eval = bnproto::median_ms(repeats, || {
        bn.forward_t(x.as_tensor(), false).unwrap();
    });
    let train_fwd = bnproto::median_ms(repeats, || {
        bn.forward_t(x.as_tensor(), true).unwrap();
    });
    let train = bnproto::median_ms(repeats, || {
        let y = bn.forward_t(x.as_tensor(), true).unwrap();
        (&y * &dy).unwrap().sum_all().unwrap().backward().unwrap();
    });
    println!(
        "{}",
        json!({"engine": "candle-nn 0.11.1", "shape": shape, "dtype": "float32", "repeats": repeats,
               "threads": candle_core::utils::get_num_threads(),
               "eval_ms": eval, "train_forward_ms": train_fwd, "train_forward_backward_ms": train})
    );
    Ok(())
}

fn main() {
    if let Some((shape, repeats)) = bnproto::bench_args() {
        if let Err(e) = bench(shape, repeats) {
            eprintln!("candle bench: {e}");
            std::process::exit(1);
        }
        return;
    }
    bnproto::serve(&Candle);
}
