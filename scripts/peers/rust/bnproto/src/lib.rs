//! The subprocess protocol of fixtures/PROTOCOL.md (version 1.1, batches included), shared by the
//! candle and burn peers: JSON lines in on stdin, JSON lines out on stdout, logs on stderr.
//!
//! Numbers are exact both ways: `serde_json` is built with `float_roundtrip` (parsing) and writes
//! the shortest decimal that reads back to the value (ryu). Each engine computes a step and
//! answers values of the case's dtype, widened exactly to f64 here.

use serde_json::{json, Map, Value};
use std::io::{BufRead, Write};

/// A tensor as in the fixtures: row-major data of the given shape (values widened to f64).
#[derive(Clone, Debug)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

/// A step's state; a field absent from the convention is `None`.
#[derive(Clone, Debug, Default)]
pub struct State {
    pub gamma: Option<Tensor>,
    pub beta: Option<Tensor>,
    pub running_mean: Option<Tensor>,
    pub running_var: Option<Tensor>,
    pub num_batches_tracked: Option<u64>,
}

/// One step of a case.
#[derive(Clone, Debug)]
pub struct Step {
    pub train: bool,
    pub x: Tensor,
    pub dy: Option<Tensor>,
    pub state: State,
}

/// The convention fields a peer reads, with the engine's own defaults where the config
/// (a fingerprint probe) leaves them out.
#[derive(Clone, Debug)]
pub struct Config {
    pub epsilon: f64,
    /// `None` for `momentum_kind: "cumulative"` (the engines here have no such option).
    pub momentum: Option<f64>,
    pub momentum_kind: String,
    pub affine: bool,
    pub track_running_stats: bool,
    pub axis: i64,
}

impl Config {
    /// Reads `config` (null or partial for fingerprint probes), filling the gaps from `defaults`.
    pub fn read(config: &Value, defaults: &Config) -> Result<Config, Refusal> {
        let get = |k: &str| config.get(k).filter(|v| !v.is_null());
        let num = |k: &str, d: f64| -> Result<f64, Refusal> {
            match get(k) {
                None => Ok(d),
                Some(v) => v.as_f64().ok_or_else(|| Refusal::new("invalid_option", format!("config.{k} is not a number: {v}"))),
            }
        };
        let flag = |k: &str, d: bool| -> Result<bool, Refusal> {
            match get(k) {
                None => Ok(d),
                Some(v) => v.as_bool().ok_or_else(|| Refusal::new("invalid_option", format!("config.{k} is not a boolean: {v}"))),
            }
        };
        let momentum_kind = get("momentum_kind").and_then(|v| v.as_str()).unwrap_or(&defaults.momentum_kind).to_string();
        let momentum = if momentum_kind == "cumulative" {
            None
        } else {
            Some(num("momentum", defaults.momentum.unwrap_or(0.1))?)
        };
        Ok(Config {
            epsilon: num("epsilon", defaults.epsilon)?,
            momentum,
            momentum_kind,
            affine: flag("affine", defaults.affine)?,
            track_running_stats: flag("track_running_stats", defaults.track_running_stats)?,
            axis: get("axis").and_then(|v| v.as_i64()).unwrap_or(defaults.axis),
        })
    }
}

/// A refused call: a code of FORMAT.md's "Error codes" and the engine's message.
#[derive(Clone, Debug)]
pub struct Refusal {
    pub code: String,
    pub message: String,
}

impl Refusal {
    pub fn new(code: &str, message: impl Into<String>) -> Refusal {
        Refusal { code: code.to_string(), message: message.into() }
    }
}

/// A step's answer: outputs by name, and `num_batches_tracked` after a tracked training step.
#[derive(Clone, Debug, Default)]
pub struct Answer {
    pub outputs: Vec<(String, Tensor)>,
    pub num_batches_tracked: Option<u64>,
}

/// What a peer provides: its hello and one step at a time.
pub trait Engine {
    fn name(&self) -> String;
    fn supports(&self) -> Value;
    fn step(&self, dtype: &str, config: &Value, step: &Step) -> Result<Answer, Refusal>;
}

fn number(v: &Value) -> Result<f64, String> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| format!("not a number: {n}")),
        Value::String(s) if s == "NaN" => Ok(f64::NAN),
        Value::String(s) if s == "Infinity" => Ok(f64::INFINITY),
        Value::String(s) if s == "-Infinity" => Ok(f64::NEG_INFINITY),
        other => Err(format!("not a number: {other}")),
    }
}

fn tensor(v: &Value, what: &str) -> Result<Tensor, Refusal> {
    let bad = |m: String| Refusal::new("invalid_shape", format!("{what}: {m}"));
    let shape: Vec<usize> = v
        .get("shape")
        .and_then(|s| s.as_array())
        .ok_or_else(|| bad("no shape".into()))?
        .iter()
        .map(|d| d.as_u64().map(|d| d as usize).ok_or_else(|| bad(format!("bad dimension {d}"))))
        .collect::<Result<_, _>>()?;
    let data: Vec<f64> = v
        .get("data")
        .and_then(|d| d.as_array())
        .ok_or_else(|| bad("no data".into()))?
        .iter()
        .map(|x| number(x).map_err(bad))
        .collect::<Result<_, _>>()?;
    if shape.iter().product::<usize>() != data.len() {
        return Err(bad(format!("shape {shape:?} does not hold {} values", data.len())));
    }
    Ok(Tensor { shape, data })
}

fn encode(t: &Tensor, dtype: &str) -> Value {
    let data: Vec<Value> = t
        .data
        .iter()
        .map(|&x| {
            if x.is_nan() {
                json!("NaN")
            } else if x.is_infinite() {
                json!(if x > 0.0 { "Infinity" } else { "-Infinity" })
            } else {
                json!(x)
            }
        })
        .collect();
    json!({"dtype": dtype, "shape": t.shape, "data": data})
}

fn read_step(v: &Value) -> Result<Step, Refusal> {
    let mode = v.get("mode").and_then(|m| m.as_str()).unwrap_or("");
    let train = match mode {
        "train" => true,
        "eval" => false,
        other => return Err(Refusal::new("invalid_option", format!("unknown mode {other:?}"))),
    };
    let x = tensor(v.get("x").unwrap_or(&Value::Null), "x")?;
    let dy = match v.get("dy") {
        None | Some(Value::Null) => None,
        Some(d) => Some(tensor(d, "dy")?),
    };
    let empty = Map::new();
    let s = v.get("state").and_then(|s| s.as_object()).unwrap_or(&empty);
    let opt = |k: &str| -> Result<Option<Tensor>, Refusal> {
        match s.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(t) => Ok(Some(tensor(t, k)?)),
        }
    };
    let state = State {
        gamma: opt("gamma")?,
        beta: opt("beta")?,
        running_mean: opt("running_mean")?,
        running_var: opt("running_var")?,
        num_batches_tracked: s.get("num_batches_tracked").and_then(|n| n.as_u64()),
    };
    Ok(Step { train, x, dy, state })
}

/// Runs one step, turning a panic inside the engine into a refusal that carries its message.
fn run_step(engine: &dyn Engine, dtype: &str, config: &Value, step: &Value) -> Value {
    let result = read_step(step).and_then(|s| {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| engine.step(dtype, config, &s))) {
            Ok(r) => r,
            Err(p) => {
                let message = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panic".to_string());
                Err(Refusal::new(&panic_code(&message), format!("panicked: {message}")))
            }
        }
    });
    match result {
        Ok(a) => {
            let mut outputs = Map::new();
            for (k, t) in &a.outputs {
                outputs.insert(k.clone(), encode(t, dtype));
            }
            let mut m = Map::new();
            m.insert("outputs".into(), Value::Object(outputs));
            if let Some(n) = a.num_batches_tracked {
                m.insert("num_batches_tracked".into(), json!(n));
            }
            Value::Object(m)
        }
        Err(r) => json!({"error": {"code": r.code, "message": r.message}}),
    }
}

/// The FORMAT.md error code for an engine's message (its assertion or error text).
pub fn panic_code(message: &str) -> String {
    let m = message.to_lowercase();
    if m.contains("eps") {
        "invalid_epsilon".into()
    } else if m.contains("momentum") {
        "invalid_momentum".into()
    } else if m.contains("shape") || m.contains("rank") || m.contains("dimension") {
        "invalid_shape".into()
    } else {
        "invalid_option".into()
    }
}

fn answer_case(engine: &dyn Engine, msg: &Value) -> Value {
    let dtype = msg.get("dtype").and_then(|d| d.as_str()).unwrap_or("float32");
    let config = msg.get("config").cloned().unwrap_or(Value::Null);
    let steps: Vec<Value> = msg
        .get("steps")
        .and_then(|s| s.as_array())
        .map(|a| a.iter().map(|s| run_step(engine, dtype, &config, s)).collect())
        .unwrap_or_default();
    json!({"type": "result", "id": msg.get("id").cloned().unwrap_or(Value::Null), "steps": steps})
}

/// Serves the protocol on stdin/stdout until `bye` or the end of input.
pub fn serve(engine: &dyn Engine) {
    // Engine panics become refusals; keep their default report on stderr short.
    std::panic::set_hook(Box::new(|info| eprintln!("{info}")));
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let msg: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("not JSON: {e}");
                continue;
            }
        };
        let replies: Vec<Value> = match msg.get("type").and_then(|t| t.as_str()) {
            Some("hello") => vec![json!({
                "type": "hello", "protocol": "batchnorm-conformance", "version": "1.1",
                "name": engine.name(), "supports": engine.supports(), "batch": {"max_cases": 64}
            })],
            Some("case") => vec![answer_case(engine, &msg)],
            Some("batch") => {
                let cases = msg.get("cases").and_then(|c| c.as_array()).cloned().unwrap_or_default();
                for c in &cases {
                    let r = answer_case(engine, c);
                    if writeln!(out, "{r}").and_then(|_| out.flush()).is_err() {
                        return;
                    }
                }
                vec![]
            }
            Some("bye") => return,
            other => {
                eprintln!("unknown message type {other:?}");
                vec![]
            }
        };
        for r in replies {
            if writeln!(out, "{r}").and_then(|_| out.flush()).is_err() {
                return;
            }
        }
    }
}

/// `--bench N,C,H,W [repeats]`: times eval and train (forward, and forward+backward) of one
/// float32 batch inside the engine's process and prints one JSON line of medians in ms.
pub fn bench_args() -> Option<(Vec<usize>, usize)> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == "--bench")?;
    let shape = args
        .get(at + 1)
        .map(|s| s.split(',').map(|d| d.parse().expect("--bench N,C,H,W")).collect())
        .unwrap_or_else(|| vec![32, 64, 56, 56]);
    let repeats = args.get(at + 2).map(|r| r.parse().expect("repeats")).unwrap_or(30);
    Some((shape, repeats))
}

/// The median of `repeats` timings of `f` (after one warm-up call), in milliseconds.
pub fn median_ms(repeats: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..repeats)
        .map(|_| {
            let s = std::time::Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = t.len();
    if n % 2 == 1 { t[n / 2] } else { (t[n / 2 - 1] + t[n / 2]) / 2.0 }
}

/// Deterministic inputs for the benchmark (a small LCG; values in [-2, 2)).
pub fn bench_data(n: usize) -> Vec<f32> {
    let mut s: u64 = 0x2545F4914F6CDD1D;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
        })
        .collect()
}
