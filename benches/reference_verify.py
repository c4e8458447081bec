#!/usr/bin/env python3
"""Python baseline for verification by forward passes (docs/methods.md §5): the published method,
run the way the published code runs it.

Attribution
-----------
The functions below marked "port of" are small faithful ports of cohere-ai/magikarp
(https://github.com/cohere-ai/magikarp), "Fishing for Magikarp: Automatically Detecting
Under-trained Tokens in Large Language Models" (Land & Bartolo, 2024), licensed under the
Apache License, Version 2.0 (http://www.apache.org/licenses/LICENSE-2.0). Changes from the
original: trimmed to what verification needs; the tokenizer/model are loaded from a local
directory; the verdict of docs/methods.md §5 is reported beside magikarp's own label; timing, position
counts and CSV/JSON output were added. The ported logic (prompt templates, token-level
placeholder substitution, the ``generate`` call, the probability read-out, the placeholder
choice, the token categories) is unchanged.

Ported pieces (file / function in cohere-ai/magikarp):
* ``VERIFICATION_PROMPTS``, ``verify_magikarp``, ``classify_verification``: magikarp/fishing.py
* ``select_placeholder_token``: magikarp/utils.py
* ``TokenizerAnalyzer.__init__`` (pad fallback, special ids), ``_set_flags``, ``clean_encode``,
  ``clean_decode``, ``categorize_token(s)``: magikarp/tokenization.py
* ``model_needs_fast_tokenizer`` (SmolLM2 is not in its list: magikarp asks for the slow
  tokenizer; transformers 5 has one tokenizer class per model and ignores ``use_fast``).

What is timed
-------------
Only the verification loop (``verify_magikarp`` for each id: 3 prompts, each one Hugging
Face ``generate`` call, batch 1, KV cache, ``max_new_tokens=3``, sampling with ``top_k=1``
(= greedy), ``output_logits=True``; stops at EOS as ``generate`` does). Model loading and the
placeholder search (which categorises the whole vocabulary, as the published code does) are
timed separately and reported, not counted in tokens/s.

Positions forwarded: ``generate`` with a KV cache forwards the whole prompt once, then one
position per further step; the last generated token is never forwarded. So per prompt
``positions = prompt_len + steps - 1`` with ``steps`` = the number of logits rows returned
(≤ 3). Per id the script prints the three prompt lengths, the steps and the total, so the
compute floor (positions x FLOPs per position) can be computed.

Usage::

    python benches/reference_verify.py MODEL_DIR (--ids-file FILE | --ids 1,2,3)
        [--threads 2] [--csv out.csv] [--json]

MODEL_DIR is a Hugging Face directory (config.json, model.safetensors, tokenizer files), e.g.
the output of benches/smollm2_to_hf.py. The ids file has one id per line (blank lines and
``#`` comments are skipped). ``--json`` prints one JSON object per id instead of the text line.
The last line printed is always a JSON summary (tokens/s, seconds, peak RSS, ...).

The id list used for the SmolLM2 benchmark, benches/verify_ids_smollm2.txt, is
``17 + 327*i`` for ``i = 0..149`` (every 327th id, 327 = floor(49152/150), starting after the 17
special tokens 0..16 of the SmolLM2 vocabulary): 150 ids from 17 to 48740.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import sys
import time
from typing import Optional

import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

# --- port of magikarp/fishing.py: VERIFICATION_PROMPTS ------------------------------------
VERIFICATION_PROMPTS = [
    (
        "input_output",
        20,
        "This device repeats its input exactly, as shown in these 100 identical trials.",
        "\nInput: «{token}»\nOutput:",
        " «{token}»",
    ),
    (
        "assistant_explain",
        0,
        "This helpful assistant explains what a phrase means, replying with identical responses to identical questions for reliability.",
        "\nUser: What does 'edslfkj' mean?\nAssistant: 'edslfkj' has no specific meaning I am aware of.\nUser: what does '{token}' mean?\nAssistant:",
        " '{token}'",
    ),
    (
        "repeats",
        50,
        "Below is the output, as you can see it's just giving the same phrase repeated indefinitely:\n",
        "{token}",
        "{token}",
    ),
]


# --- port of magikarp/tokenization.py: model_needs_fast_tokenizer -------------------------
def model_needs_fast_tokenizer(model_id: str) -> bool:
    return any(
        s in model_id
        for s in ["Cohere", "stabilityai", "gpt-j", "pythia", "neox", "OLMo", "Mistral-Nemo",
                  "solar-pro-preview", "ibm-granite/", "trillionlabs/", "Llama-4", "GLM"]
    )


# --- port of magikarp/tokenization.py: TokenizerAnalyzer (the parts verification uses) ----
class TokenizerAnalyzer:
    START_PREFIXES = ["«", "»"]
    SPACE_CHARS = " ▁_Ġ"

    def __init__(self, model_dir: str, use_fast: Optional[bool] = None, model_id: str = ""):
        if use_fast is None:
            use_fast = model_needs_fast_tokenizer(model_id or model_dir)
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir, use_fast=use_fast, clean_up_tokenization_spaces=False)
        if getattr(self.tokenizer, "pad_token", None) is None:
            eos_token_id = getattr(self.tokenizer, "eos_token_id", None)
            print(f"Warning: no pad_token_id, setting it to eos_token_id = {eos_token_id}", file=sys.stderr)
            self.tokenizer.pad_token_id = eos_token_id
        self.vocab_s2i = dict(self.tokenizer.get_vocab().items())
        self.vocab_i2s = {v: k for k, v in self.vocab_s2i.items()}
        self.special_token_ids = list(getattr(self.tokenizer, "additional_special_tokens_ids", None) or [])
        for attr in ["bos_token_id", "eos_token_id", "pad_token_id", "unk_token_id", "sep_token_id", "mask_token_id"]:
            token_id = getattr(self.tokenizer, attr, None)
            if token_id is not None:
                self.special_token_ids.append(token_id)
        self._set_flags()

    def _set_flags(self):
        tokens_no_space = self.tokenizer.encode("test", add_special_tokens=False)
        if self.vocab_i2s[tokens_no_space[0]][0] in self.SPACE_CHARS:
            self.starting_space_mode = True
            self.start_prefix_ids = []
            for prefix in self.START_PREFIXES:
                enc_prefix = self.tokenizer.encode(prefix, add_special_tokens=False)
                self.start_prefix_ids.append(enc_prefix[0] if len(enc_prefix) == 1 else None)
            assert any(self.start_prefix_ids)
        else:
            assert self.vocab_i2s[tokens_no_space[0]][0] == "t"
            self.starting_space_mode = False

    def clean_encode(self, s) -> list[int]:
        if self.starting_space_mode:
            for prefix_id, prefix in zip(self.start_prefix_ids, self.START_PREFIXES):
                if prefix_id is None:
                    continue
                s = prefix + s
                tokens = self.tokenizer.encode(s, add_special_tokens=False)
                if tokens[0] == prefix_id:
                    break
            else:
                raise AssertionError(f"no prefix of {self.START_PREFIXES!r} encodes alone in {s!r}")
            tokens = tokens[1:]
        else:
            tokens = self.tokenizer.encode(s, add_special_tokens=False)
        return tokens

    def clean_decode(self, tokens):
        if self.starting_space_mode:
            for prefix_id, prefix in zip(self.start_prefix_ids, self.START_PREFIXES):
                if prefix_id is None:
                    continue
                tokens = [prefix_id] + tokens
                decoded = self.tokenizer.decode(tokens, skip_special_tokens=False)
                if decoded[0] == " ":
                    decoded = decoded[1:]
                if decoded.startswith(prefix):
                    return decoded[1:]
            raise AssertionError(f"decoded {decoded!r} does not start with a prefix of {self.START_PREFIXES!r}")
        return self.tokenizer.decode(tokens, skip_special_tokens=False)

    def categorize_token(self, token_id: int) -> dict:
        s = self.clean_decode([token_id])
        tokens = self.clean_encode(s)
        if tokens == [token_id]:
            category = "OK_SPECIAL" if token_id in self.special_token_ids else "OK"
        elif len(s) >= 3 and s[0] in "[<" and s[-1] in "]>" and any(c.isalpha() for c in s):
            category = "UNREACHABLE_SPECIAL"
        elif "\ufffd" in s:
            category = "UNDECODEABLE"
        elif len(tokens) == 1:
            category = "UNREACHABLE_SINGLE_TOKEN"
        else:
            category = "UNREACHABLE_MULTI_TOKEN"
        return dict(i=token_id, raw_vocab=self.vocab_i2s[token_id], category=category, decoded=s)

    def categorize_tokens(self) -> dict[int, dict]:
        return {i: self.categorize_token(i) for i in self.vocab_i2s}


# --- port of magikarp/utils.py: select_placeholder_token ----------------------------------
def select_placeholder_token(toka: TokenizerAnalyzer, token_infos: dict) -> dict:
    # a long non-repetitive alphabetical token as placeholder in building the prompts
    build_prompt_tokens = sorted(
        token_infos.values(),
        key=lambda tc: (tc["category"] == "OK", tc["decoded"].isalpha(), len(set(tc["decoded"])), len(tc["decoded"])),
        reverse=True,
    )
    for build_prompt_token in build_prompt_tokens:
        two_repeats = [build_prompt_token["i"], build_prompt_token["i"]]
        s = toka.clean_decode(two_repeats)
        if toka.clean_encode(s) != two_repeats:
            print(f"Skipping token #{build_prompt_token['i']} {build_prompt_token['decoded']!r} as placeholder", file=sys.stderr)
        else:
            break
    return build_prompt_token


# --- port of magikarp/fishing.py: verify_magikarp -----------------------------------------
def verify_magikarp(toka: TokenizerAnalyzer, model, token_id: int, build_prompt_token: dict, n_tokens: int = 3):
    def raw_logits_to_prob_i(raw_logits: torch.Tensor, token_ix: int):
        raw_logits = raw_logits.detach()
        logits = torch.nn.functional.log_softmax(raw_logits, dim=-1)
        return np.exp(logits[0, token_ix].item())

    verification_results = []
    for test_name, n, preamble, input_phrase, completion in VERIFICATION_PROMPTS:
        example_id = build_prompt_token["i"]
        nshot = preamble + (input_phrase + completion) * n + input_phrase + completion[: completion.index("{")]
        nshot = nshot.format(token=build_prompt_token["decoded"])
        tokens: torch.Tensor = toka.tokenizer.encode(nshot, return_tensors="pt")
        assert (tokens == build_prompt_token["i"]).sum().item() == 2 * n + 1, "Prompt building not working as expected"
        sub_id = token_id
        tokens[tokens == example_id] = sub_id

        decoded_subst_prompt = toka.tokenizer.decode(tokens[0])
        encodeable = token_id in toka.tokenizer.encode(decoded_subst_prompt)

        gen_tokens = model.generate(
            tokens.to(model.device),
            max_new_tokens=n_tokens,
            do_sample=True,
            top_k=1,
            return_dict_in_generate=True,
            output_logits=True,
            pad_token_id=toka.tokenizer.pad_token_id,
        )
        generated_tokens = gen_tokens["sequences"][0, tokens.shape[1]:].cpu().numpy()
        try:
            gen_str = toka.tokenizer.decode(generated_tokens)
        except Exception as e:  # noqa: BLE001 (as published)
            gen_str = f"<<Error: {e}>>"
        logits = gen_tokens["logits"]
        token_probs = [raw_logits_to_prob_i(l.cpu(), sub_id) for l in logits]  # up to n_tokens
        max_prob = max(token_probs, default=np.nan)
        verification_results.append(
            dict(
                test_name=test_name,
                encodeable=encodeable,
                output=gen_str,
                max_prob=max_prob,
                # added here (not in the published dict): sizes for the compute floor
                prompt_len=int(tokens.shape[1]),
                steps=len(logits),
                positions=int(tokens.shape[1]) + len(logits) - 1,
            )
        )
    return verification_results


# --- port of magikarp/fishing.py: classify_verification -----------------------------------
def classify_verification(verification: list[dict]) -> tuple[float, str]:
    max_prob = float(np.max([vr["max_prob"] for vr in verification]))
    if max_prob > 0.9:
        label = "strong_rejected"
    elif max_prob > 0.1:
        label = "weak_rejected"
    elif all(not vr["encodeable"] for vr in verification):
        label = "verification_encoding_failed"
    elif max_prob < 0.001:
        label = "strong_verified"
    else:
        label = "weak_verified"
    return max_prob, label


def verdict(score: float) -> str:
    """The thresholds of docs/methods.md §5."""
    if score < 0.001:
        return "strongly_under_trained"
    if score < 0.01:
        return "under_trained"
    if score > 0.1:
        return "trained"
    return "unclear"


def read_ids(args) -> list[int]:
    if args.ids is not None:
        return [int(x) for x in args.ids.split(",") if x.strip()]
    out = []
    with open(args.ids_file, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                out.append(int(line))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description="Published (magikarp) verification, HF generate, batch 1.")
    ap.add_argument("model_dir")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--ids-file")
    g.add_argument("--ids", help="comma-separated token ids")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--csv", help="write per-id results here")
    ap.add_argument("--json", action="store_true", help="one JSON object per id instead of a text line")
    ap.add_argument("--model-id", default="HuggingFaceTB/SmolLM2-135M-Instruct",
                    help="hub id used only for magikarp's use_fast rule (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0, help="torch seed (top_k=1 sampling; matters only for exact ties)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    ids = read_ids(args)

    t0 = time.perf_counter()
    toka = TokenizerAnalyzer(args.model_dir, model_id=args.model_id)
    model = AutoModelForCausalLM.from_pretrained(args.model_dir, dtype=torch.float32)
    model.eval()
    t_load = time.perf_counter() - t0

    t0 = time.perf_counter()
    token_infos = toka.categorize_tokens()
    placeholder = select_placeholder_token(toka, token_infos)
    t_placeholder = time.perf_counter() - t0
    print(f"# transformers {transformers.__version__}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"tokenizer {type(toka.tokenizer).__name__}, vocab {len(toka.vocab_i2s)}, "
          f"eos {model.generation_config.eos_token_id}, pad {toka.tokenizer.pad_token_id}")
    print(f"# placeholder: id {placeholder['i']} {placeholder['decoded']!r} (raw {placeholder['raw_vocab']!r}); "
          f"load {t_load:.1f}s, placeholder search {t_placeholder:.1f}s")
    sys.stdout.flush()

    rows = []
    csv_file = writer = None
    t_start = time.perf_counter()
    cpu_start = time.process_time()
    if True:  # no inference_mode: as published (generate itself runs under torch.no_grad)
        for n, tid in enumerate(ids):
            t1 = time.perf_counter()
            ver = verify_magikarp(toka, model, tid, placeholder)
            dt = time.perf_counter() - t1
            score, label = classify_verification(ver)
            row = dict(
                token_id=tid,
                token=toka.vocab_i2s.get(tid, ""),
                score=score,
                verdict=verdict(score),
                magikarp_label=label,
                **{f"p_{v['test_name']}": float(v["max_prob"]) for v in ver},
                **{f"len_{v['test_name']}": v["prompt_len"] for v in ver},
                **{f"steps_{v['test_name']}": v["steps"] for v in ver},
                encodeable=int(any(v["encodeable"] for v in ver)),
                positions=sum(v["positions"] for v in ver),
                logits_rows=sum(v["steps"] for v in ver),
                seconds=round(dt, 4),
                loadavg1=round(os.getloadavg()[0], 2),
            )
            rows.append(row)
            if args.csv:  # written row by row so that a partial run keeps its results
                if writer is None:
                    os.makedirs(os.path.dirname(os.path.abspath(args.csv)), exist_ok=True)
                    csv_file = open(args.csv, "w", newline="", encoding="utf-8")
                    writer = csv.DictWriter(csv_file, fieldnames=list(row.keys()))
                    writer.writeheader()
                writer.writerow(row)
                csv_file.flush()
            if args.json:
                print(json.dumps(row, ensure_ascii=False))
            else:
                lens = "+".join(str(v["prompt_len"]) for v in ver)
                steps = "+".join(str(v["steps"]) for v in ver)
                print(f"[{n + 1}/{len(ids)}] id {tid} {row['token']!r}: score {score:.3e} {row['verdict']} "
                      f"({label}); prompts {lens}, steps {steps}, positions {row['positions']}, {dt:.2f}s")
            sys.stdout.flush()
    total = time.perf_counter() - t_start
    cpu_total = time.process_time() - cpu_start
    if csv_file is not None:
        csv_file.close()

    positions = [r["positions"] for r in rows]
    summary = dict(
        impl="python-hf-generate",
        model_dir=os.path.abspath(args.model_dir),
        n_tokens=len(rows),
        threads=torch.get_num_threads(),
        total_s=round(total, 3),
        tokens_per_s=round(len(rows) / total, 4) if total > 0 else None,
        median_s_per_token=round(float(np.median([r["seconds"] for r in rows])), 3) if rows else None,
        cpu_s=round(cpu_total, 2),
        mean_positions_per_token=round(float(np.mean(positions)), 2) if rows else None,
        total_positions=int(sum(positions)),
        positions_per_s=round(sum(positions) / total, 1) if total > 0 else None,
        load_s=round(t_load, 2),
        placeholder_search_s=round(t_placeholder, 2),
        placeholder_id=placeholder["i"],
        placeholder=placeholder["decoded"],
        verdicts={k: sum(r["verdict"] == k for r in rows) for k in
                  ("strongly_under_trained", "under_trained", "unclear", "trained")},
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        torch=torch.__version__,
        transformers=transformers.__version__,
        python=platform.python_version(),
        loadavg=[round(x, 2) for x in os.getloadavg()],
    )
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
