#!/usr/bin/env python3
"""Make the tiny reference checkpoints of tests/models/: one folder per architecture, each a
randomly initialised transformers model (f32 safetensors, config.json as transformers writes
it) and reference.json with transformers' f32 logits for a fixed input and its greedy
continuation. tests/it/reference_models.rs checks our forward pass against them; CI needs no
Python.

    python3 tests/models/make.py [NAME ...]      # default: every folder below

Each folder also gets verify.json: the published verification (docs/methods.md §5)
computed with transformers — the three prompts tokenized by tests/models/tokenizer.json (a
512-token byte-level BPE trained here on the prompts and Tiny Shakespeare, kept once made)
with the published placeholder rule, each candidate's id in every slot, 3 greedy steps of
`generate`, score = the candidate's highest probability over steps and prompts.

Needs torch and transformers (5.x; the version is recorded in each reference.json). Every
model: vocabulary 512, width 32, 4 heads (2 KV heads where the architecture has them),
2 layers (3 for Gemma 2/3, so both layer kinds occur), 512 positions (the published prompts need 500), weights N(0, 0.2)
with seed 0 — large enough that RoPE, norms and biases all move the logits.
"""

import json
import sys
from pathlib import Path

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoModelForCausalLM

HERE = Path(__file__).resolve().parent
INPUT = [1, 17, 42, 99, 3, 250, 7, 400, 12, 5]
GREEDY = 8
COMMON = dict(vocab_size=512, hidden_size=32, intermediate_size=64, num_attention_heads=4,
              num_key_value_heads=2, num_hidden_layers=2, max_position_embeddings=512,
              initializer_range=0.2, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2,
              pad_token_id=0)


MODELS = {
    # name: (config class name, config kwargs)
    "llama": ("LlamaConfig", dict(COMMON, rope_theta=500000.0)),
    "llama31": ("LlamaConfig", dict(COMMON, rope_theta=500000.0, rope_scaling=dict(
        rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
        original_max_position_embeddings=16))),
    "llama-tied": ("LlamaConfig", dict(COMMON, tie_word_embeddings=True)),
    "mistral": ("MistralConfig", dict(COMMON, sliding_window=None)),
    "qwen2": ("Qwen2Config", dict(COMMON, tie_word_embeddings=True)),
    "qwen3": ("Qwen3Config", dict(COMMON, head_dim=16)),
    "phi3": ("Phi3Config", dict(COMMON, partial_rotary_factor=0.5)),
    "gemma3": ("Gemma3TextConfig", dict(COMMON, num_hidden_layers=3, head_dim=8,
                                        sliding_window=4, query_pre_attn_scalar=8,
                                        tie_word_embeddings=True)),
    "gemma": ("GemmaConfig", dict(COMMON, head_dim=8, tie_word_embeddings=True,
                                  attention_bias=True)),
    "gemma2": ("Gemma2Config", dict(COMMON, head_dim=8, tie_word_embeddings=True,
                                    sliding_window=32, query_pre_attn_scalar=8,
                                    attn_logit_softcapping=5.0, final_logit_softcapping=3.0)),
    "mixtral": ("MixtralConfig", dict(COMMON, num_local_experts=4, num_experts_per_tok=2,
                                      sliding_window=None)),
    "starcoder2": ("Starcoder2Config", dict(COMMON, use_bias=True, sliding_window=None,
                                            tie_word_embeddings=True, norm_epsilon=1e-5)),
    "olmo": ("OlmoConfig", dict(COMMON, clip_qkv=0.3)),
    "olmo2": ("Olmo2Config", dict(COMMON)),
    "stablelm": ("StableLmConfig", dict(COMMON, partial_rotary_factor=0.5, use_qkv_bias=True)),
    "stablelm-qk": ("StableLmConfig", dict(COMMON, qk_layernorm=True, use_parallel_residual=True,
                                           tie_word_embeddings=True)),
    "phi": ("PhiConfig", dict(COMMON, partial_rotary_factor=0.5, num_key_value_heads=4)),
    "gptj": ("GPTJConfig", dict(vocab_size=512, n_embd=32, n_layer=2, n_head=4, n_positions=512,
                                rotary_dim=4, initializer_range=0.2, bos_token_id=1,
                                eos_token_id=2, tie_word_embeddings=False)),
    "gpt_neox": ("GPTNeoXConfig", dict(COMMON, rotary_pct=0.5,
                                       use_parallel_residual=True)),
    "gpt_neox-seq": ("GPTNeoXConfig", dict(COMMON,
                                           use_parallel_residual=False,
                                           tie_word_embeddings=True)),
    "cohere": ("CohereConfig", dict(COMMON, logit_scale=0.5, tie_word_embeddings=True)),
    "cohere-qk": ("CohereConfig", dict(COMMON, use_qk_norm=True, tie_word_embeddings=False)),
    "granite": ("GraniteConfig", dict(COMMON, embedding_multiplier=4.0, residual_multiplier=0.5,
                                      attention_multiplier=0.3, logits_scaling=2.0)),
    "falcon": ("FalconConfig", dict(vocab_size=512, hidden_size=32, num_attention_heads=4,
                                    num_kv_heads=2, num_hidden_layers=2,
                                    new_decoder_architecture=True, bias=False,
                                    max_position_embeddings=512, initializer_range=0.2,
                                    bos_token_id=1, eos_token_id=2, tie_word_embeddings=True)),
    "falcon-7b": ("FalconConfig", dict(vocab_size=512, hidden_size=32, num_attention_heads=4,
                                       num_hidden_layers=2, new_decoder_architecture=False,
                                       multi_query=True, parallel_attn=True, bias=False,
                                       max_position_embeddings=512, initializer_range=0.2,
                                       bos_token_id=1, eos_token_id=2,
                                       tie_word_embeddings=True)),
    "gpt2": ("GPT2Config", dict(vocab_size=512, n_embd=32, n_layer=2, n_head=4, n_positions=512,
                                initializer_range=0.2, bos_token_id=1, eos_token_id=2)),
}


# The published prompts (BRIEF §5): (name, k, preamble, input, completion).
TEMPLATES = [
    ("input_output", 20,
     "This device repeats its input exactly, as shown in these 100 identical trials.",
     "\nInput: «{token}»\nOutput:", " «{token}»"),
    ("assistant_explain", 0,
     "This helpful assistant explains what a phrase means, replying with identical responses "
     "to identical questions for reliability.",
     "\nUser: What does 'edslfkj' mean?\nAssistant: 'edslfkj' has no specific meaning I am "
     "aware of.\nUser: what does '{token}' mean?\nAssistant:", " '{token}'"),
    ("repeats", 50,
     "Below is the output, as you can see it's just giving the same phrase repeated "
     "indefinitely:\n", "{token}", "{token}"),
]
STEPS = 3
CANDIDATES = [3, 57, 130, 260, 333, 420, 511]
TOKENIZER = HERE / "tokenizer.json"
# Gemma 2's window (32) is shorter than the prompts: tokenaudit refuses to verify there
# (candle's model attends over everything), which reference_models.rs checks instead.
NO_VERIFY = {"gemma2"}
SHAKESPEARE = HERE.parent.parent.parent / "shared/data/corpus/tinyshakespeare.txt"


def tokenizer():
    """The shared 512-token byte-level BPE: made once, then read back as committed."""
    if TOKENIZER.exists():
        return Tokenizer.from_file(str(TOKENIZER))
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=512, special_tokens=["<pad>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    text = [t[2] + (t[3] + t[4]) * 3 for t in TEMPLATES]
    text += SHAKESPEARE.read_text()[:200_000].split("\n\n")
    tok.train_from_iterator(text, trainer)
    assert tok.get_vocab_size() == 512, tok.get_vocab_size()
    tok.save(str(TOKENIZER))
    return tok


def prompt_text(t, k, token):
    _, _, pre, inp, comp = t
    return (pre + (inp + comp) * k + inp + comp[:comp.index("{token}")]).replace("{token}", token)


def slots(t, k):
    per = lambda s: s.count("{token}")
    return (per(t[3]) + per(t[4])) * k + per(t[3])


def build(tok, t, placeholder, positions):
    """The prompt ids with the placeholder, examples dropped until prompt + steps fit."""
    pid, ptext = placeholder
    for k in range(t[1], -1, -1):
        ids = tok.encode(prompt_text(t, k, ptext)).ids
        if sum(i == pid for i in ids) != slots(t, k):
            return None
        if len(ids) + STEPS <= positions:
            return dict(name=t[0], k=k, ids=ids, slots=[i for i, x in enumerate(ids) if x == pid])
    return None


def placeholder_and_prompts(tok, positions):
    """The published rule: alphabetic tokens that encode back to themselves alone and
    written twice, most distinct characters, then longest, then lowest id; the first
    that is one token in every slot of every prompt."""
    ranked = []
    for i in range(tok.get_vocab_size()):
        text = tok.decode([i])
        if not text.isalpha() or tok.encode(text).ids != [i]:
            continue
        if tok.encode(tok.decode([i, i])).ids != [i, i]:
            continue
        ranked.append((-len(set(text)), -len(text), i, text))
    for _, _, i, text in sorted(ranked):
        built = [build(tok, t, (i, text), positions) for t in TEMPLATES]
        if all(built):
            return (i, text), built
    raise SystemExit("no placeholder fits")


def verify_reference(model, cfg):
    tok = tokenizer()
    positions = cfg.get("max_position_embeddings") or cfg.get("n_positions")
    placeholder, prompts = placeholder_and_prompts(tok, positions)
    eos = cfg.get("eos_token_id")
    rows = []
    for c in CANDIDATES:
        scores = []
        for p in prompts:
            ids = [c if i in p["slots"] else x for i, x in enumerate(p["ids"])]
            with torch.no_grad():
                out = model.generate(torch.tensor([ids]), max_new_tokens=STEPS, do_sample=False,
                                     output_scores=True, return_dict_in_generate=True,
                                     eos_token_id=eos, pad_token_id=0)
            scores.append(max(float(torch.softmax(s[0].float(), -1)[c]) for s in out.scores))
        rows.append(dict(id=c, prompt_scores=scores))
    return dict(placeholder=list(placeholder), prompts=prompts, rows=rows)


def to_4x(config):
    """The config.json that transformers 4.x writes for the same model: rope settings at the
    top level, `torch_dtype`, no explicit nulls of keys 4.x did not have."""
    c = dict(config)
    rp = c.pop("rope_parameters", None)
    if rp:
        rp = dict(rp)
        c["rope_theta"] = rp.pop("rope_theta", 10000.0)
        if rp.get("rope_type", "default") != "default":
            c["rope_scaling"] = rp
        elif "partial_rotary_factor" in rp:
            c["partial_rotary_factor"] = rp["partial_rotary_factor"]
    if "dtype" in c:
        c["torch_dtype"] = c.pop("dtype")
    c["transformers_version"] = "4.46.0"
    return c


def make(name):
    cls, kw = MODELS[name]
    torch.manual_seed(0)
    config = getattr(transformers, cls)(**kw)
    model = AutoModelForCausalLM.from_config(config).to(torch.float32).eval()
    with torch.no_grad():
        # Norm weights start at 1 (or 0 for Gemma's 1+w): perturb every parameter so that
        # a loader that skips one (a norm, a bias) is caught.
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    out = HERE / name
    out.mkdir(exist_ok=True)
    for f in out.iterdir():
        f.unlink()
    model.save_pretrained(out, safe_serialization=True)
    (out / "model.safetensors").chmod(0o644)
    ids = torch.tensor([INPUT])
    with torch.no_grad():
        logits = model(ids).logits[0].float()
        greedy = model.generate(ids, max_new_tokens=GREEDY, do_sample=False,
                                eos_token_id=None, pad_token_id=0,
                                min_new_tokens=GREEDY)[0, len(INPUT):].tolist()
    ref = dict(transformers_version=transformers.__version__, torch_version=torch.__version__,
               input_ids=INPUT, greedy=greedy,
               logits=[[round(float(x), 7) for x in row] for row in logits])
    (out / "reference.json").write_text(json.dumps(ref, separators=(",", ":")) + "\n")
    cfg = json.loads((out / "config.json").read_text())
    (out / "generation_config.json").unlink(missing_ok=True)
    if name not in NO_VERIFY:
        (out / "verify.json").write_text(json.dumps(verify_reference(model, cfg),
                                                    separators=(",", ":")) + "\n")
    print(f"{name}: {sum(f.stat().st_size for f in out.iterdir()) // 1024} KiB")
    return cfg


def main():
    names = sys.argv[1:] or list(MODELS)
    for n in names:
        cfg = make(n)
        if n == "llama31":
            # The same weights as transformers 4.x would have described them.
            src, dst = HERE / n, HERE / "llama31-4x"
            dst.mkdir(exist_ok=True)
            for f in src.iterdir():
                (dst / f.name).write_bytes(f.read_bytes())
            (dst / "config.json").write_text(json.dumps(to_4x(cfg), indent=2) + "\n")
            print("llama31-4x: config.json as transformers 4.x")


if __name__ == "__main__":
    main()
