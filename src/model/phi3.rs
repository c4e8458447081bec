//! Phi-3 (candle-transformers' `phi3::Model`): config mapping, load and the forward glue.
//! The KV cache lives inside the model, so a fork is a clone.

use anyhow::Result;
use candle_core::Tensor;
use candle_nn::VarBuilder;
use candle_transformers::models::phi3;

use super::{Arch, Causal, LoadContext, Spec};

/// `model_type` `phi3`, or an `architectures` entry starting with it.
pub const SPEC: Spec = Spec {
    arch: Arch::Phi3,
    name: "phi3",
    families: &["phi3"],
    load,
};

impl Causal for phi3::Model {
    fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        // [batch, 1, vocab]: the model already keeps only the last position.
        Ok(phi3::Model::forward(self, ids, pos)?.squeeze(1)?)
    }

    fn reset(&mut self, _use_cache: bool) -> Result<()> {
        self.clear_kv_cache();
        Ok(())
    }

    fn fork(&self) -> Box<dyn Causal> {
        Box::new(self.clone())
    }
}

fn load(cx: &LoadContext<'_>, vb: VarBuilder<'static>) -> Result<Box<dyn Causal>> {
    let cfg: phi3::Config = cx.config.typed()?;
    Ok(Box::new(phi3::Model::new(&cfg, vb)?))
}
