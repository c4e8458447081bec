//! Driving candle's quantized models as [`Causal`] models: one sequence of a batch at a
//! time (see the module above for why), with candle's own KV cache ([`native`]) or by
//! recomputing from position 0 ([`recompute`]).

use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail, Result};
use candle_core::{DType, Tensor};

use crate::model::Causal;

/// A candle quantized model: its forward pass and cache reset.
pub trait QModel: Send + 'static {
    /// candle's `forward(ids [b, seq], index_pos)`: `[b, vocab]` logits of the last
    /// position.
    fn forward(&mut self, ids: &Tensor, pos: usize) -> candle_core::Result<Tensor>;
    /// Forget every cached position.
    fn clear(&mut self);
}

/// Wrap a candle model that cannot be forked (or whose cache is wrong for a cached
/// prefix): every pass from position 0 ([`Cache::Recompute`]).
pub fn recompute<M: QModel>(m: M) -> Box<dyn Causal> {
    Box::new(Recompute {
        model: Arc::new(Mutex::new(m)),
        history: None,
    })
}

/// Wrap a `Clone` candle model whose own cache handles a cached prefix
/// ([`Cache::Native`]).
pub fn native<M: QModel + Clone + Sync>(m: M) -> Box<dyn Causal> {
    Box::new(Rows {
        proto: m,
        rows: Vec::new(),
        same: true,
    })
}

/// The rows of `ids` ([b, seq]) and whether they are all the same.
fn split_rows(ids: &Tensor) -> Result<(Vec<Tensor>, bool)> {
    let b = ids.dim(0)?;
    let v: Vec<Vec<u32>> = ids.to_dtype(DType::U32)?.to_vec2()?;
    let same = v.iter().all(|r| *r == v[0]);
    let rows = (0..b)
        .map(|i| ids.narrow(0, i, 1))
        .collect::<candle_core::Result<Vec<_>>>()?;
    Ok((rows, same))
}

/// `logits` ([1, vocab]) repeated for `b` rows.
fn repeat_rows(logits: Tensor, b: usize) -> Result<Tensor> {
    if b == 1 {
        return Ok(logits);
    }
    Ok(Tensor::cat(&vec![logits; b], 0)?)
}

/// candle's quantized models take the last position of a `[b, seq]` batch with a strided
/// view that their CPU quantized matmul refuses for `b > 1, seq > 1` ("input tensor is not
/// contiguous"), so a batch runs one sequence at a time, each with its own clone of the
/// model and cache (weights are shared, reference-counted). While every sequence has seen
/// the same ids (a shared prefix) one copy stands for all.
#[derive(Clone)]
struct Rows<M> {
    /// The model with an empty cache.
    proto: M,
    /// One model per sequence; one for all while `same`.
    rows: Vec<M>,
    same: bool,
}

impl<M: QModel + Clone + Sync> Causal for Rows<M> {
    fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        if pos == 0 || self.rows.is_empty() {
            if pos != 0 {
                bail!("forward at position {pos} with no cached positions (internal error)");
            }
            let mut m = self.proto.clone();
            // Some of candle's caches append whatever the position (qwen3's).
            m.clear();
            self.rows = vec![m];
            self.same = true;
        }
        let b = ids.dim(0)?;
        let (rows, identical) = split_rows(ids)?;
        if self.same && identical {
            let logits = self.rows[0].forward(&rows[0], pos)?;
            return repeat_rows(logits, b);
        }
        if self.same {
            let m = self.rows[0].clone();
            self.rows = vec![m; b];
            self.same = false;
        }
        if self.rows.len() != b {
            bail!(
                "a batch of {b} after a batch of {} (internal error)",
                self.rows.len()
            );
        }
        let mut out = Vec::with_capacity(b);
        for (m, r) in self.rows.iter_mut().zip(&rows) {
            out.push(m.forward(r, pos)?);
        }
        Ok(Tensor::cat(&out, 0)?)
    }

    fn reset(&mut self, _use_cache: bool) -> Result<()> {
        self.rows.clear();
        self.same = true;
        Ok(())
    }

    fn fork(&self) -> Box<dyn Causal> {
        Box::new(self.clone())
    }
}

/// Every pass from position 0 over the ids seen so far, one sequence at a time (see
/// [`Rows`]); the model (weights and a scratch cache) is shared by every fork, the ids
/// are each fork's own.
struct Recompute<M> {
    model: Arc<Mutex<M>>,
    history: Option<Tensor>,
}

impl<M: QModel> Causal for Recompute<M> {
    fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        let seen = match &self.history {
            Some(h) if pos > 0 => h.dim(1)?,
            _ => 0,
        };
        if pos != seen {
            bail!("forward at position {pos} after {seen} positions (internal error)");
        }
        let full = match &self.history {
            Some(h) if pos > 0 => Tensor::cat(&[h, ids], 1)?,
            _ => ids.clone(),
        };
        let b = full.dim(0)?;
        let (rows, identical) = split_rows(&full)?;
        let mut m = self
            .model
            .lock()
            .map_err(|_| anyhow!("the model's lock was poisoned by an earlier failure"))?;
        let mut pass = |r: &Tensor| -> Result<Tensor> {
            m.clear();
            let l = m.forward(r, 0)?;
            m.clear();
            Ok(l)
        };
        let logits = if identical {
            repeat_rows(pass(&rows[0])?, b)?
        } else {
            let mut out = Vec::with_capacity(b);
            for r in &rows {
                out.push(pass(r)?);
            }
            Tensor::cat(&out, 0)?
        };
        drop(m);
        self.history = Some(full);
        Ok(logits)
    }

    fn reset(&mut self, _use_cache: bool) -> Result<()> {
        self.history = None;
        Ok(())
    }

    fn fork(&self) -> Box<dyn Causal> {
        Box::new(Recompute {
            model: Arc::clone(&self.model),
            history: self.history.clone(),
        })
    }
}
