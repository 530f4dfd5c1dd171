//! burn 0.22.1 (`burn-nn` BatchNorm on the ndarray backend) behind the subprocess protocol of
//! fixtures/PROTOCOL.md.
//!
//!     deno task conform --exec scripts/peers/rust/target/release/burn_peer
//!     scripts/peers/rust/target/release/burn_peer --bench 32,64,56,56 30
//!
//! Each step builds the layer the way users do, `BatchNormConfig::new(C).with_epsilon(e)
//! .with_momentum(m).init(&device)` (which panics on epsilon <= 0 or momentum outside [0, 1]:
//! burn-nn src/modules/norm/batch.rs:77-84; the panic is answered as a refusal), then sets its
//! parameters and running state from the step's state and calls `forward`. burn trains only on
//! an autodiff device (batch.rs:133), so every step runs on `Device::default().autodiff()`;
//! evaluation clears the layer's `training` flag. Gradients come from burn's autodiff
//! (`backward` of sum(y·dy)); `batch_mean` and `batch_var` are the statistics
//! `burn::tensor::module::batch_norm_train` returns (the biased variance that also feeds the
//! running variance, batch.rs:169-171). The ndarray backend has float64 and float32 only
//! (burn-ndarray src/backend.rs:84-97). burn has no affine switch and no batch counter: without
//! affine gamma = 1 and beta = 0 and their gradients are not answered; `num_batches_tracked`
//! is the state's count plus one (bookkeeping). Without running statistics both modes take the
//! training path.

use bnproto::{Answer, Config, Engine, Refusal, Step, Tensor as T};
use burn::module::{Param, RunningState};
use burn::nn::{BatchNorm, BatchNormConfig};
use burn::tensor::{DType, Device, Tensor, TensorData};
use serde_json::{json, Value};

struct Burn;

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

fn make<const D: usize>(t: &T, dt: DType, dev: &Device) -> Tensor<D> {
    let data = match dt {
        DType::F64 => TensorData::new(t.data.clone(), t.shape.clone()),
        _ => TensorData::new(t.data.iter().map(|&v| v as f32).collect::<Vec<f32>>(), t.shape.clone()),
    };
    Tensor::<D>::from_data(data, (dev, dt))
}

fn back<const D: usize>(t: Tensor<D>) -> T {
    let shape = t.dims().to_vec();
    let data = t.into_data_dtype(DType::F64).try_to_vec::<f64>().expect("float64 data");
    T { shape, data }
}

fn step_d<const D: usize>(dt: DType, cfg: &Config, s: &Step) -> Result<Answer, Refusal> {
    let dev = Device::default().autodiff();
    let c = s.x.shape[1];
    let missing = |k: &str| Refusal::new("missing_state", format!("state.{k} is missing"));
    let batch_stats = s.train || !cfg.track_running_stats;
    let mut bn: BatchNorm = BatchNormConfig::new(c)
        .with_epsilon(cfg.epsilon)
        .with_momentum(cfg.momentum.unwrap_or(0.1))
        .init(&dev);
    let ones = T { shape: vec![c], data: vec![1.0; c] };
    let zeros = T { shape: vec![c], data: vec![0.0; c] };
    let (g, b) = if cfg.affine {
        (
            s.state.gamma.as_ref().ok_or_else(|| missing("gamma"))?,
            s.state.beta.as_ref().ok_or_else(|| missing("beta"))?,
        )
    } else {
        (&ones, &zeros)
    };
    bn.gamma = Param::from_tensor(make::<1>(g, dt, &dev));
    bn.beta = Param::from_tensor(make::<1>(b, dt, &dev));
    let (rm, rv) = if cfg.track_running_stats {
        (
            s.state.running_mean.as_ref().ok_or_else(|| missing("running_mean"))?,
            s.state.running_var.as_ref().ok_or_else(|| missing("running_var"))?,
        )
    } else {
        (&zeros, &ones)
    };
    bn.running_mean = RunningState::new(make::<1>(rm, dt, &dev));
    bn.running_var = RunningState::new(make::<1>(rv, dt, &dev));
    if !batch_stats {
        bn.training = Param::from_bool(false);
    }
    let x = make::<D>(&s.x, dt, &dev).require_grad();
    let y = bn.forward(x.clone());
    let mut a = Answer::default();
    a.outputs.push(("y".into(), back(y.clone())));
    if s.train && s.x.data.len() > 0 {
        let stats = burn::tensor::module::batch_norm_train(
            make::<D>(&s.x, dt, &dev),
            make::<1>(g, dt, &dev),
            make::<1>(b, dt, &dev),
            cfg.epsilon,
        );
        a.outputs.push(("batch_mean".into(), back(stats.mean)));
        a.outputs.push(("batch_var".into(), back(stats.variance)));
    }
    if s.train && cfg.track_running_stats {
        a.outputs.push(("running_mean".into(), back(bn.running_mean.value_sync())));
        a.outputs.push(("running_var".into(), back(bn.running_var.value_sync())));
        a.num_batches_tracked = Some(s.state.num_batches_tracked.unwrap_or(0) + 1);
    }
    if let Some(dy) = &s.dy {
        let grads = y.mul(make::<D>(dy, dt, &dev)).sum().backward();
        let dx = x.grad(&grads).map(back).unwrap_or_else(|| T { shape: s.x.shape.clone(), data: vec![0.0; s.x.data.len()] });
        a.outputs.push(("dx".into(), dx));
        if cfg.affine {
            let zero = || T { shape: vec![c], data: vec![0.0; c] };
            a.outputs.push(("dgamma".into(), bn.gamma.val().grad(&grads).map(back).unwrap_or_else(zero)));
            a.outputs.push(("dbeta".into(), bn.beta.val().grad(&grads).map(back).unwrap_or_else(zero)));
        }
    }
    Ok(a)
}

impl Engine for Burn {
    fn name(&self) -> String {
        "burn 0.22.1 BatchNorm (ndarray backend, autodiff), Rust".into()
    }

    fn supports(&self) -> Value {
        json!({
            "modes": ["train", "eval"],
            "backward": true,
            "errors": true,
            "dtypes": ["float64", "float32"],
            "layouts": ["channels-first"],
            "outputs": ["y", "dx", "dgamma", "dbeta", "batch_mean", "batch_var", "running_mean", "running_var"],
            "conventions": {
                "epsilon_floor": [0], "epsilon_placement": ["inside"], "momentum_kind": ["new"],
                "running_variance": ["biased"], "single_value_training": ["allow"],
                "zero_variance_invstd": ["ieee"], "empty_batch": ["nan"]
            }
        })
    }

    fn step(&self, dtype: &str, config: &Value, s: &Step) -> Result<Answer, Refusal> {
        let cfg = Config::read(config, &defaults())?;
        let rank = s.x.shape.len();
        if cfg.axis != 1 && cfg.axis != 1 - rank as i64 {
            return Err(Refusal::new("invalid_axis", "burn's BatchNorm normalizes axis 1 only"));
        }
        let dt = match dtype {
            "float64" => DType::F64,
            "float32" => DType::F32,
            other => {
                return Err(Refusal::new(
                    "unsupported_dtype",
                    format!("burn's ndarray backend has no {other} (burn-ndarray src/backend.rs:97)"),
                ))
            }
        };
        match rank {
            2 => step_d::<2>(dt, &cfg, s),
            3 => step_d::<3>(dt, &cfg, s),
            4 => step_d::<4>(dt, &cfg, s),
            5 => step_d::<5>(dt, &cfg, s),
            6 => step_d::<6>(dt, &cfg, s),
            r => Err(Refusal::new("invalid_shape", format!("burn peer: rank {r} (2 to 6 only)"))),
        }
    }
}

fn bench(shape: Vec<usize>, repeats: usize) {
    assert_eq!(shape.len(), 4, "--bench takes N,C,H,W");
    let c = shape[1];
    let n: usize = shape.iter().product();
    let x = T { shape: shape.clone(), data: bnproto::bench_data(n).into_iter().map(f64::from).collect() };
    let dy = T { shape: shape.clone(), data: bnproto::bench_data(n + 7)[7..].iter().map(|&v| f64::from(v)).collect() };
    let plain = Device::default();
    let auto = Device::default().autodiff();
    let bn_eval: BatchNorm = BatchNormConfig::new(c).init(&plain);
    let bn_train: BatchNorm = BatchNormConfig::new(c).init(&auto);
    let xe = make::<4>(&x, DType::F32, &plain);
    let xt = make::<4>(&x, DType::F32, &auto);
    let dyt = make::<4>(&dy, DType::F32, &auto);
    let eval = bnproto::median_ms(repeats, || {
        bn_eval.forward(xe.clone()).into_data();
    });
    let train_fwd = bnproto::median_ms(repeats, || {
        bn_train.forward(xt.clone()).into_data();
    });
    let train = bnproto::median_ms(repeats, || {
        let x = xt.clone().require_grad();
        let grads = bn_train.forward(x.clone()).mul(dyt.clone()).sum().backward();
        x.grad(&grads).expect("dx").into_data();
    });
    println!(
        "{}",
        json!({"engine": "burn 0.22.1 ndarray", "shape": shape, "dtype": "float32", "repeats": repeats,
               "eval_ms": eval, "train_forward_ms": train_fwd, "train_forward_backward_ms": train})
    );
}

fn main() {
    if let Some((shape, repeats)) = bnproto::bench_args() {
        bench(shape, repeats);
        return;
    }
    bnproto::serve(&Burn);
}
