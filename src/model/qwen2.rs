//! Qwen2 (candle-transformers' `qwen2::ModelForCausalLM`): config mapping, load and the
//! forward glue. The KV cache lives inside the model, so a fork is a clone.

use anyhow::Result;
use candle_core::Tensor;
use candle_nn::VarBuilder;
use candle_transformers::models::qwen2;

use super::{Arch, Causal, LoadContext, Spec};

/// `model_type` `qwen2`, or an `architectures` entry starting with it.
pub const SPEC: Spec = Spec {
    arch: Arch::Qwen2,
    name: "qwen2",
    families: &["qwen2"],
    load,
};

impl Causal for qwen2::ModelForCausalLM {
    fn forward(&mut self, ids: &Tensor, pos: usize) -> Result<Tensor> {
        // [batch, 1, vocab]: the model already keeps only the last position.
        Ok(qwen2::ModelForCausalLM::forward(self, ids, pos)?.squeeze(1)?)
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
    let cfg: qwen2::Config = cx.config.typed()?;
    Ok(Box::new(qwen2::ModelForCausalLM::new(&cfg, vb)?))
}
