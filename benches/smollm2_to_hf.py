#!/usr/bin/env python3
"""Convert the SmolLM2-135M-Instruct GGUF (Q4_1, tied embeddings) to a plain Hugging Face
directory of f32 safetensors, for the Python verification baseline (benches/reference_verify.py).

Usage::

    python benches/smollm2_to_hf.py [OUT_DIR] [--gguf PATH]

OUT_DIR defaults to ``target/smollm2-hf/`` under the repository root (an ignored build folder;
never write it into the source tree). The input defaults to
``$TOKENAUDIT_DATA/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf``
(``TOKENAUDIT_DATA`` defaults to /work/shared/data). The GGUF is read in place, never copied.

How: transformers dequantizes the GGUF on load (``from_pretrained(dir, gguf_file=name)``) but
refuses to ``save_pretrained`` a GGUF-loaded model, so a plain model is built from the same
config, the dequantized state dict is loaded into it, and that is saved as f32 safetensors.
The tokenizer is loaded from the GGUF the same way and saved (tokenizer.json +
tokenizer_config.json + special_tokens_map). The generation config (eos id, used by
``generate`` to stop) is carried over.

RoPE keys: transformers 4.x writes ``rope_theta`` at the top level of config.json;
transformers 5.x writes ``rope_parameters`` ({"rope_type": "default", "rope_theta": ...}).
This script prints which layout the written config.json has (see the "rope keys" line);
with the versions in benches/requirements-verify.txt the result is recorded in the
report that accompanies this script.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("TOKENAUDIT_DATA", "/work/shared/data")
DEFAULT_GGUF = os.path.join(DATA, "models", "smollm2-135m-instruct", "SmolLM2-135M-Instruct.Q4_1.gguf")
DEFAULT_OUT = os.path.join(REPO_ROOT, "target", "smollm2-hf")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", nargs="?", default=DEFAULT_OUT)
    ap.add_argument("--gguf", default=DEFAULT_GGUF, help="path of the .gguf file (default: %(default)s)")
    args = ap.parse_args()

    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src_dir, gguf_name = os.path.split(os.path.abspath(args.gguf))
    out = os.path.abspath(args.out_dir)
    os.makedirs(out, exist_ok=True)
    print(f"transformers {transformers.__version__}, torch {torch.__version__}")
    print(f"reading {args.gguf}")

    t0 = time.perf_counter()
    gguf_model = AutoModelForCausalLM.from_pretrained(src_dir, gguf_file=gguf_name, dtype=torch.float32)
    config = gguf_model.config
    print(f"loaded (dequantized) in {time.perf_counter() - t0:.1f}s: {type(gguf_model).__name__}, "
          f"tie_word_embeddings={config.tie_word_embeddings}")

    # A plain model from the same config; copy the dequantized weights in.
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    sd = {k: v.to(torch.float32) for k, v in gguf_model.state_dict().items()}
    missing, unexpected = plain.load_state_dict(sd, strict=False)
    # With tied embeddings, lm_head.weight may be absent from / redundant in the state dict.
    missing = [k for k in missing if not (config.tie_word_embeddings and k == "lm_head.weight")]
    if missing or unexpected:
        print(f"state dict mismatch: missing={missing} unexpected={unexpected}", file=sys.stderr)
        return 1
    if config.tie_word_embeddings:
        plain.tie_weights()
    plain.generation_config = gguf_model.generation_config
    plain.eval()
    plain.save_pretrained(out, safe_serialization=True)

    tok = AutoTokenizer.from_pretrained(src_dir, gguf_file=gguf_name)
    tok.save_pretrained(out)

    with open(os.path.join(out, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    top = {k: cfg[k] for k in ("rope_theta", "rope_parameters", "rope_scaling") if k in cfg}
    layout = "rope_parameters (transformers 5 layout)" if "rope_parameters" in cfg else (
        "rope_theta at top level (transformers 4 layout)" if "rope_theta" in cfg else "no rope keys")
    print(f"rope keys: {layout}: {json.dumps(top)}")
    print("config:", json.dumps({k: cfg.get(k) for k in (
        "architectures", "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
        "num_attention_heads", "num_key_value_heads", "head_dim", "rms_norm_eps", "max_position_embeddings",
        "tie_word_embeddings", "bos_token_id", "eos_token_id", "pad_token_id", "dtype", "torch_dtype")}))

    # Quick sanity check: the reloaded directory gives a sensible greedy chat answer.
    if os.environ.get("SMOLLM2_SKIP_CHECK") != "1":
        m = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
        t = AutoTokenizer.from_pretrained(out)
        ids = t.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                    add_generation_prompt=True, return_tensors="pt")
        if not isinstance(ids, torch.Tensor):  # transformers 5 may return a BatchEncoding
            ids = ids["input_ids"]
        with torch.no_grad():
            g = m.generate(ids, max_new_tokens=12, do_sample=False)
        print("check:", repr(t.decode(g[0, ids.shape[1]:], skip_special_tokens=True)))

    files = sorted(os.listdir(out))
    print(f"wrote {out}: {files} in {time.perf_counter() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
