#!/usr/bin/env python3
"""Independent Python reference implementation of the tokenizer audit (docs/usage.md).

Why this exists
---------------
* It produces the expected numbers that the Rust tests check (``--all --json-out``).
  It deliberately shares no code with the Rust side: every format is loaded through
  the upstream Python libraries (``tokenizers``, ``sentencepiece``, ``tiktoken``,
  ``gguf``), so a bug in the Rust loaders cannot silently agree with itself.
* It is the speed baseline for ``benches/audit.rs`` (``--bench llama3``): the way people
  run this audit today (cohere-ai/magikarp) is a Python loop over a Hugging Face
  ``tokenizers`` object, one id at a time.

The categorisation rules are cohere-ai/magikarp's ``TokenizerAnalyzer.categorize_token``
with ``clean_decode`` / ``clean_encode`` (leading-space guard), and the summary counts are
magikarp's ``find_byte_tokens`` / ``find_special_tokens`` / ``categorize_token_infos``,
as restated in docs/usage.md (`tokenaudit audit`) and docs/schemas.md.

Usage::

    python benches/reference_audit.py --all --json-out benches/reference_audit.json
    python benches/reference_audit.py --only llama2 gpt2
    python benches/reference_audit.py --bench llama3
"""

from __future__ import annotations

import argparse
import base64
import functools
import glob
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

# The shared test data sits beside the repository (repo/../shared/data), as the Rust tests
# expect it; resolved from this file, so the script runs from any working directory.
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("TOKENAUDIT_DATA", os.path.normpath(os.path.join(REPO, "..", "shared", "data")))
TOK_DIR = os.path.join(DATA, "tokenizers")
CORPUS_DIR = os.path.join(DATA, "corpus")

CATEGORIES = [
    "OK",
    "OK_SPECIAL",
    "UNREACHABLE_SPECIAL",
    "UNDECODEABLE",
    "UNREACHABLE_SINGLE",
    "UNREACHABLE_MULTI",
]
GUARDS = ["«", "»"]  # magikarp START_PREFIXES
SPACE_CHARS = " ▁_Ġ"  # magikarp SPACE_CHARS


# --------------------------------------------------------------------------------------
# GPT-2 byte <-> unicode table
# --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def bytes_to_unicode() -> Dict[int, str]:
    """GPT-2's reversible byte -> printable unicode char table (openai/gpt-2 encoder.py).

    Needed because tiktoken files store raw bytes, while the audit's "raw entry" rules
    (the 'Ġ' heuristic, single-char bytes) are defined on the byte-level string form.
    """
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


@functools.lru_cache(maxsize=None)
def unicode_to_bytes() -> Dict[str, int]:
    return {c: b for b, c in bytes_to_unicode().items()}


def bytes_to_raw(b: bytes) -> str:
    """Token bytes -> byte-level vocab string (what a HF tokenizer.json would store)."""
    table = bytes_to_unicode()
    return "".join(table[x] for x in b)


# --------------------------------------------------------------------------------------
# A uniform view of one tokenizer
# --------------------------------------------------------------------------------------


@dataclass
class Backend:
    """What the audit needs from any tokenizer: ids, raw entries, specials, encode/decode.

    ``encode``/``decode`` are the *plain* library calls (no guard); the guard logic lives in
    :class:`Auditor` so it is identical for every format.
    """

    name: str
    kind: str
    raw: Dict[int, str]  # id -> raw vocab entry, only ids that exist (holes skipped)
    special_ids: set
    encode: Optional[Callable[[str], List[int]]] = None
    decode: Optional[Callable[[List[int]], str]] = None
    info: dict = field(default_factory=dict)


# ---- Hugging Face tokenizer.json -----------------------------------------------------


def load_hf_json(name: str, path: str) -> Backend:
    """Load a tokenizer.json with the ``tokenizers`` library.

    Old serialisations (gpt2/tokenizer.json) lack ``model.type``; ``tokenizers`` then fails
    with KeyError('type'), so the type is inferred from the model's keys first.
    """
    from tokenizers import Tokenizer

    with open(path, encoding="utf-8") as f:
        spec = json.load(f)
    model = spec["model"]
    patched = False
    if "type" not in model:
        if "merges" in model:
            model["type"] = "BPE"
        elif "max_input_chars_per_word" in model:
            model["type"] = "WordPiece"
        elif isinstance(model.get("vocab"), list):
            model["type"] = "Unigram"
        else:
            model["type"] = "WordLevel"
        patched = True
    tok = Tokenizer.from_str(json.dumps(spec))
    tok.no_truncation()
    tok.no_padding()

    raw = {}
    for i in range(tok.get_vocab_size(with_added_tokens=True)):
        t = tok.id_to_token(i)
        if t is not None:
            raw[i] = t
    specials = {a["id"] for a in spec.get("added_tokens", []) if a.get("special")}
    unk = model.get("unk_token")
    if unk is not None and tok.token_to_id(unk) is not None:
        specials.add(tok.token_to_id(unk))

    return Backend(
        name=name,
        kind="hf-json",
        raw=raw,
        special_ids=specials,
        encode=lambda s: tok.encode(s, add_special_tokens=False).ids,
        decode=lambda ids: tok.decode(ids, skip_special_tokens=False),
        info={"path": os.path.relpath(path, DATA), "model_type_patched": patched, "model_type": model["type"]},
    )


# ---- SentencePiece .model -> tokenizers (transformers LlamaConverter) ---------------------


def read_sp_proto(path: str):
    """Parse a SentencePiece ModelProto with the protobuf bundled in ``sentencepiece``."""
    from sentencepiece import sentencepiece_model_pb2 as pb

    m = pb.ModelProto()
    with open(path, "rb") as f:
        m.ParseFromString(f.read())
    return m


def sp_generate_merges(pieces: Sequence[str], scores: Sequence[float]) -> List[tuple]:
    """transformers' ``generate_merges`` (SentencePieceExtractor) for BPE .model files.

    SentencePiece stores no merges; the converter derives them: every split of a piece into
    two halves that are both in the vocab, ordered within a piece by (id(left), id(right)),
    then all merges stably sorted by (score, len(left), len(right)) descending. Python's
    ``sorted(reverse=True)`` keeps equal keys in original order, which is what we want.
    """
    vocab = {p: i for i, p in enumerate(pieces)}
    merges = []
    for piece, score in zip(pieces, scores):
        local = []
        for k in range(1, len(piece)):
            left, right = piece[:k], piece[k:]
            if left in vocab and right in vocab:
                local.append((left, right, score))
        local.sort(key=lambda x: (vocab[x[0]], vocab[x[1]]))
        merges.extend(local)
    merges = sorted(merges, key=lambda v: (v[2], len(v[0]), len(v[1])), reverse=True)
    return [(a, b) for a, b, _ in merges]


def load_sentencepiece(name: str, path: str) -> Backend:
    """Build a ``tokenizers`` BPE tokenizer from a .model the way LlamaConverter does (legacy).

    normalizer Prepend('▁') (if add_dummy_prefix) + Replace(' ', '▁'); no pre-tokenizer;
    decoder Replace('▁',' ') + ByteFallback + Fuse (+ Strip(' ',1,0) with add_dummy_prefix).
    CONTROL/UNKNOWN pieces become special AddedTokens, USER_DEFINED non-special ones.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers

    proto = read_sp_proto(path)
    ts, ns = proto.trainer_spec, proto.normalizer_spec
    if ts.model_type != 2:
        raise ValueError(f"{path}: only BPE SentencePiece models are handled (model_type={ts.model_type})")
    pieces = [p.piece for p in proto.pieces]
    scores = [p.score for p in proto.pieces]
    types = [p.type for p in proto.pieces]
    vocab = {p: i for i, p in enumerate(pieces)}
    if len(vocab) != len(pieces):
        raise ValueError(f"{path}: duplicate pieces")
    merges = sp_generate_merges(pieces, scores)
    unk_piece = next((p.piece for p in proto.pieces if p.type == 2), None)
    tok = Tokenizer(
        models.BPE(vocab, merges, unk_token=unk_piece, fuse_unk=True, byte_fallback=ts.byte_fallback, dropout=None)
    )
    norm = [normalizers.Replace(" ", "▁")]
    if ns.add_dummy_prefix:
        norm.insert(0, normalizers.Prepend("▁"))
    tok.normalizer = normalizers.Sequence(norm)
    dec = [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]
    if ns.add_dummy_prefix:
        dec.append(decoders.Strip(" ", 1, 0))
    tok.decoder = decoders.Sequence(dec)
    added = [
        AddedToken(p, normalized=False, special=(t in (2, 3))) for p, t in zip(pieces, types) if t in (2, 3, 4)
    ]
    tok.add_tokens(added)
    for a in added:  # the added tokens must keep their piece ids
        assert tok.token_to_id(a.content) == vocab[a.content]

    specials = {i for i, t in enumerate(types) if t in (2, 3)}
    for sid in (ts.unk_id, ts.bos_id, ts.eos_id, ts.pad_id):
        if 0 <= sid < len(pieces):
            specials.add(sid)
    return Backend(
        name=name,
        kind="sentencepiece",
        raw=dict(enumerate(pieces)),
        special_ids=specials,
        encode=lambda s: tok.encode(s, add_special_tokens=False).ids,
        decode=lambda ids: tok.decode(ids, skip_special_tokens=False),
        info={
            "path": os.path.relpath(path, DATA),
            "n_merges": len(merges),
            "byte_fallback": ts.byte_fallback,
            "add_dummy_prefix": ns.add_dummy_prefix,
            "_hf": tok,
        },
    )


# ---- tiktoken ---------------------------------------------------------------------------

PAT_CL100K = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
PAT_LLAMA4 = (
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"""
    r"""|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"""
    r"""|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
PAT_QWEN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
PAT_GPT2 = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def llama3_specials() -> List[str]:
    """meta-llama/llama-models models/llama3/tokenizer.py: 256 specials from id 128000."""
    names = [
        "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
        "<|finetune_right_pad_id|>", "<|step_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>",
        "<|eot_id|>", "<|python_tag|>", "<|image|>",
    ]  # fmt: skip
    names += [f"<|reserved_special_token_{2 + i}|>" for i in range(256 - len(names))]
    return names


def llama4_specials() -> List[str]:
    """meta-llama/llama-models models/llama4/tokenizer.py: 2048 specials from id 200000."""
    basic = ["<|begin_of_text|>", "<|end_of_text|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>"]
    text_post_train = ["<|header_start|>", "<|header_end|>", "<|eom|>", "<|eot|>", "<|step|>"]
    text_post_train += [f"<|text_post_train_reserved_special_token_{i}|>" for i in range(6)]
    text_post_train += ["<|python_start|>", "<|python_end|>", "<|finetune_right_pad|>"]
    text_post_train += [f"<|text_post_train_reserved_special_token_{i}|>" for i in range(8, 69)]
    vision = [
        "<|image_start|>", "<|image_end|>", "<|vision_reserved_special_token_0|>",
        "<|vision_reserved_special_token_1|>", "<|tile_x_separator|>", "<|tile_y_separator|>",
    ]  # fmt: skip
    vision += [f"<|vision_reserved_special_token_{i}|>" for i in range(2, 6)]
    vision += ["<|image|>", "<|vision_reserved_special_token_6|>", "<|patch|>"]
    vision += [f"<|vision_reserved_special_token_{i}|>" for i in range(7, 1048)]
    reasoning = [f"<|reasoning_reserved_special_token_{i}|>" for i in range(8)]
    reasoning += ["<|reasoning_thinking_start|>", "<|reasoning_thinking_end|>"]
    names = basic + text_post_train + vision + reasoning
    names += [f"<|reserved_special_token_{i}|>" for i in range(2048 - len(names))]
    assert len(names) == 2048 and len(set(names)) == 2048
    return names


@dataclass
class TiktokenPreset:
    """Everything a tiktoken family keeps in code rather than in its rank file."""

    pat: str
    specials: Dict[str, int]  # text -> id
    declared: Dict[str, str] = field(default_factory=dict)  # role (bos/eos) -> text


def tiktoken_preset(family: str, n: int) -> TiktokenPreset:
    """Presets per family; ids count from n = number of ranks in the file."""
    if family == "cl100k":
        sp = {"<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
              "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276}  # fmt: skip
        return TiktokenPreset(PAT_CL100K, sp)
    if family == "llama3":
        sp = {t: n + i for i, t in enumerate(llama3_specials())}
        return TiktokenPreset(PAT_CL100K, sp, {"bos": "<|begin_of_text|>", "eos": "<|end_of_text|>"})
    if family == "llama4":
        sp = {t: n + i for i, t in enumerate(llama4_specials())}
        return TiktokenPreset(PAT_LLAMA4, sp, {"bos": "<|begin_of_text|>", "eos": "<|end_of_text|>"})
    if family == "qwen":
        names = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] + [f"<|extra_{i}|>" for i in range(205)]
        return TiktokenPreset(PAT_QWEN, {t: n + i for i, t in enumerate(names)})
    if family == "gpt2":
        return TiktokenPreset(PAT_GPT2, {"<|endoftext|>": n})
    raise ValueError(family)


def load_tiktoken(name: str, path: str, family: str) -> Backend:
    """Use the ``tiktoken`` library itself: Encoding(mergeable_ranks, pat_str, special_tokens)."""
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    ranks = load_tiktoken_bpe(path)
    n = len(ranks)
    preset = tiktoken_preset(family, n)
    enc = tiktoken.Encoding(name=name, pat_str=preset.pat, mergeable_ranks=ranks, special_tokens=preset.specials)
    raw = {r: bytes_to_raw(b) for b, r in ranks.items()}
    for t, i in preset.specials.items():
        assert i not in raw
        raw[i] = t
    raw = dict(sorted(raw.items()))
    allowed = frozenset(preset.specials)  # == allowed_special="all", without recomputing per call
    # tiktoken converts the allowed-special set to a Rust HashSet on every call (2048 strings
    # for llama4, ~0.2 ms). When the text cannot contain a special token, encode_ordinary
    # gives the identical result; every preset special starts with "<|".
    assert all(t.startswith("<|") for t in allowed)

    def encode(s: str) -> List[int]:
        if "<|" not in s:
            return enc.encode_ordinary(s)
        return enc.encode(s, allowed_special=allowed, disallowed_special=())

    return Backend(
        name=name,
        kind="tiktoken",
        raw=raw,
        special_ids=set(preset.specials.values()),
        encode=encode,
        decode=lambda ids: enc.decode_bytes(ids).decode("utf-8", errors="replace"),
        info={"path": os.path.relpath(path, DATA), "n_ranks": n, "family": family},
    )


def hf_from_tiktoken(path: str, family: str):
    """Load a tiktoken rank file into a ``tokenizers`` Tokenizer the Hugging Face way.

    This is transformers' ``TikTokenConverter``: bytes->unicode vocab, merges derived from
    the ranks (every split whose halves and whole are ranks, ordered by the rank of the
    whole, then (rank(left), rank(right))), ``ignore_merges=True`` (whole-word vocab hit
    first, as tiktoken does), Split(pattern, 'isolated') + ByteLevel(use_regex=False)
    pre-tokenizer, ByteLevel decoder, specials as added tokens. It is what magikarp-style
    audits of Llama-3 actually run, hence the speed baseline.
    """
    from tiktoken.load import load_tiktoken_bpe
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

    ranks = load_tiktoken_bpe(path)
    preset = tiktoken_preset(family, len(ranks))
    vocab = {}
    merges = []
    for token, rank in ranks.items():
        vocab[bytes_to_raw(token)] = rank
        if len(token) == 1:
            continue
        local = []
        for k in range(1, len(token)):
            left, right = token[:k], token[k:]
            if left in ranks and right in ranks:
                local.append((left, right, rank))
        local.sort(key=lambda x: (ranks[x[0]], ranks[x[1]]))
        merges.extend(local)
    merges.sort(key=lambda v: v[2])
    merges = [(bytes_to_raw(a), bytes_to_raw(b)) for a, b, _ in merges]
    tok = Tokenizer(models.BPE(vocab, merges, fuse_unk=False, ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(preset.pat), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    specials = sorted(preset.specials.items(), key=lambda kv: kv[1])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t, _ in specials])
    for t, i in specials:
        assert tok.token_to_id(t) == i, (t, i, tok.token_to_id(t))
    return tok, preset


def backend_from_hf_tokenizer(name: str, tok, special_ids: set, kind: str) -> Backend:
    raw = {}
    for i in range(tok.get_vocab_size(with_added_tokens=True)):
        t = tok.id_to_token(i)
        if t is not None:
            raw[i] = t
    return Backend(
        name=name,
        kind=kind,
        raw=raw,
        special_ids=special_ids,
        encode=lambda s: tok.encode(s, add_special_tokens=False).ids,
        decode=lambda ids: tok.decode(ids, skip_special_tokens=False),
    )


# ---- GGUF -----------------------------------------------------------------------------------


def load_gguf(name: str, path: str) -> Backend:
    """Read tokenizer.ggml.* with ``gguf.GGUFReader`` (vocab-only: no encode/decode)."""
    from gguf import GGUFReader

    r = GGUFReader(path)

    def strings(key):
        f = r.fields[key]
        return [bytes(f.parts[i]).decode("utf-8") for i in f.data]

    def scalar(key):
        f = r.fields.get(key)
        if f is None:
            return None
        v = f.parts[f.data[0]]
        return bytes(v).decode("utf-8") if key.endswith((".model", ".pre")) else int(v[0])

    tokens = strings("tokenizer.ggml.tokens")
    tf = r.fields.get("tokenizer.ggml.token_type")
    types = [int(tf.parts[i][0]) for i in tf.data] if tf is not None else [1] * len(tokens)
    specials = {i for i, t in enumerate(types) if t in (2, 3)}
    declared = {}
    for role in ("bos", "eos", "unknown", "padding", "seperator", "mask"):
        v = scalar(f"tokenizer.ggml.{role}_token_id")
        if v is not None:
            declared[role] = v
            if 0 <= v < len(tokens):
                specials.add(v)
    counts = {}
    for t in types:
        counts[t] = counts.get(t, 0) + 1
    return Backend(
        name=name,
        kind="gguf",
        raw=dict(enumerate(tokens)),
        special_ids=specials,
        info={
            "path": os.path.relpath(path, DATA),
            "ggml_model": scalar("tokenizer.ggml.model"),
            "ggml_pre": scalar("tokenizer.ggml.pre"),
            "token_type_counts": {str(k): v for k, v in sorted(counts.items())},
            "declared_ids": declared,
        },
    )


# --------------------------------------------------------------------------------------
# The audit itself
# --------------------------------------------------------------------------------------


class GuardError(RuntimeError):
    pass


class Auditor:
    """magikarp's TokenizerAnalyzer, restated over a :class:`Backend`."""

    def __init__(self, be: Backend):
        self.be = be
        first = be.encode("test")
        self.first_test_raw = be.raw[first[0]]
        self.guard_ids: List[tuple] = []
        # how often a guard other than the first had to be used (magikarp stacks guards
        # here, « then »«; we try each alone, so this shows whether that difference matters)
        self.later_guard_used = {"decode": 0, "encode": 0}
        if self.first_test_raw[0] in SPACE_CHARS:
            for g in GUARDS:
                ids = be.encode(g)
                if len(ids) != 1:
                    raise GuardError(f"{be.name}: guard {g!r} encodes to {ids}, not one token")
                self.guard_ids.append((g, ids[0]))

    @property
    def guarded(self) -> bool:
        return bool(self.guard_ids)

    def clean_decode(self, i: int) -> str:
        """decode([i]); with a guard, decode([guard, i]), drop one leading space, then the guard.

        Unlike magikarp (which keeps prepending), each guard is tried on its own, as the Rust audit does.
        """
        if not self.guard_ids:
            return self.be.decode([i])
        for k, (g, gid) in enumerate(self.guard_ids):
            d = self.be.decode([gid, i])
            if d.startswith(" "):
                d = d[1:]
            if d.startswith(g):
                self.later_guard_used["decode"] += k > 0
                return d[1:]
        raise GuardError(f"{self.be.name}: id {i}: decode did not start with a guard")

    def clean_encode(self, s: str) -> List[int]:
        """encode(s); with a guard, encode(guard + s) and drop the guard's id (first guard that
        comes out as the first token wins)."""
        if not self.guard_ids:
            return self.be.encode(s)
        for k, (g, gid) in enumerate(self.guard_ids):
            toks = self.be.encode(g + s)
            if toks and toks[0] == gid:
                self.later_guard_used["encode"] += k > 0
                return toks[1:]
        raise GuardError(f"{self.be.name}: encode of {s!r}: no guard came out first")

    def categorize(self, i: int):
        s = self.clean_decode(i)
        toks = self.clean_encode(s)
        if toks == [i]:
            cat = "OK_SPECIAL" if i in self.be.special_ids else "OK"
        elif len(s) >= 3 and s[0] in "[<" and s[-1] in "]>" and any(c.isalpha() for c in s):
            cat = "UNREACHABLE_SPECIAL"
        elif "\ufffd" in s:
            cat = "UNDECODEABLE"
        elif len(toks) == 1:
            cat = "UNREACHABLE_SINGLE"
        else:
            cat = "UNREACHABLE_MULTI"
        return cat, s, toks

    def categorize_all(self) -> Dict[int, str]:
        return {i: self.categorize(i)[0] for i in self.be.raw}


def is_byte_level(raw: Dict[int, str]) -> bool:
    """magikarp's gpt2_style_byte_encoding: more than 10% of raw entries start with 'Ġ'."""
    return sum(v.startswith("Ġ") for v in raw.values()) > len(raw) / 10


def byte_value(entry: str, byte_level: bool) -> Optional[int]:
    """The byte a raw entry stands for, or None (magikarp ``token_byte_value``)."""
    if byte_level:
        if len(entry) != 1:
            return None
        return unicode_to_bytes().get(entry)  # a char outside the table is not a byte
    if len(entry) == 6 and entry.startswith("<0x") and entry.endswith(">"):
        try:
            return int(entry[3:5], 16)
        except ValueError:
            return None
    if len(entry) == 1 and ord(entry) <= 127:
        return ord(entry)
    return None


def byte_kind(b: int) -> str:
    if b < 0x80:
        return "ascii"
    if b in (0xC0, 0xC1) or b >= 0xF5:
        return "unused_utf8"
    return "utf8"


def is_special_entry(entry: str) -> bool:
    """magikarp ``find_special_tokens`` (on raw entries; ASCII letter required)."""
    return (
        len(entry) >= 3
        and entry[0] in "[<"
        and entry[-1] in "]>"
        and any(c.isalpha() and ord(c) < 128 for c in entry)
        and not entry.startswith("<0x")
    )


def summarize(be: Backend, categories: Optional[Dict[int, str]]) -> dict:
    """Summary counts on the raw vocabulary (+ categories when we have them)."""
    bl = is_byte_level(be.raw)
    byte_ids = {}
    for i, e in be.raw.items():
        b = byte_value(e, bl)
        if b is not None:
            byte_ids[i] = b
    kinds = {"ascii": 0, "utf8": 0, "unused_utf8": 0}
    for b in byte_ids.values():
        kinds[byte_kind(b)] += 1
    special_ids = {i for i, e in be.raw.items() if is_special_entry(e)}
    exclude = set(byte_ids) | special_ids
    counts = {"bytes": len(byte_ids), "special": len(special_ids)}
    out = {"vocab_size": len(be.raw), "counts": counts, "byte_kinds": kinds}
    if categories is not None:
        counts["unreachable"] = sum(1 for i, c in categories.items() if c.startswith("UNREACHABLE") and i not in exclude)
        counts["partial_utf8"] = sum(1 for i, c in categories.items() if c == "UNDECODEABLE" and i not in exclude)
        cat_counts = {c: 0 for c in CATEGORIES}
        for c in categories.values():
            cat_counts[c] += 1
        out["categories"] = cat_counts
    info = {
        "kind": be.kind,
        "byte_level": bl,
        "max_id": max(be.raw),
        "n_special_ids": len(be.special_ids),
        "single_char_outside_byte_table": sum(1 for e in be.raw.values() if len(e) == 1 and e not in unicode_to_bytes()) if bl else None,
    }
    info.update({k: v for k, v in be.info.items() if not k.startswith("_")})
    out["info"] = info
    return out


def audit_backend(be: Backend) -> dict:
    """Categorise every id and summarise (timings stay out so the JSON is reproducible)."""
    aud = Auditor(be)
    cats = aud.categorize_all()
    res = summarize(be, cats)
    res["info"]["first_token_of_test"] = aud.first_test_raw
    res["info"]["guard"] = [g for g, _ in aud.guard_ids] or None
    res["info"]["guard_ids"] = [gid for _, gid in aud.guard_ids] or None
    res["info"]["later_guard_used"] = dict(aud.later_guard_used) if aud.guarded else None
    res["info"]["examples"] = examples(aud, cats)
    return res


def examples(aud: Auditor, cats: Dict[int, str], per_cat: int = 3) -> dict:
    """A few ids per non-OK category (first by id), so a mismatch in Rust is easy to chase."""
    out = {}
    for c in CATEGORIES[2:]:
        ids = [i for i, x in cats.items() if x == c][:per_cat]
        if ids:
            out[c] = [{"id": i, "raw": aud.be.raw[i], "decoded": aud.categorize(i)[1], "reencoded": aud.categorize(i)[2]} for i in ids]
    return out


# --------------------------------------------------------------------------------------
# Registry of the test tokenizers
# --------------------------------------------------------------------------------------

REGISTRY = {
    # name: (loader, relative path, extra)
    "gpt2": ("hf", "gpt2/tokenizer.json", None),
    "pythia": ("hf", "pythia/20B_tokenizer.json", None),
    "olmo": ("hf", "olmo/allenai_eleuther-ai-gpt-neox-20b-pii-special.json", None),
    "olmo2": ("hf", "olmo2/allenai_dolma2.json", None),
    "llama2": ("sp", "llama2/tokenizer.model", None),
    "mistral-7b-v0.1": ("sp", "mistral-7b-v0.1/tokenizer.model.v1", None),
    "mistral-v2": ("sp", "mistral-v2/mistral_instruct_tokenizer_240216.model.v2", None),
    "mistral-v3": ("sp", "mistral-v3/mistral_instruct_tokenizer_240323.model.v3", None),
    "mistral-v7": ("sp", "mistral-v7/mistral_instruct_tokenizer_241114.model.v7", None),
    "llama3": ("tiktoken", "llama3/tokenizer.model", "llama3"),
    "llama4": ("tiktoken", "llama4/tokenizer.model", "llama4"),
    "cl100k_base": ("tiktoken", "cl100k_base/cl100k_base.tiktoken", "cl100k"),
    "qwen": ("tiktoken", "qwen/qwen.tiktoken", "qwen"),
    "whisper-gpt2": ("tiktoken", "whisper/gpt2.tiktoken", "gpt2"),
}
for _p in sorted(glob.glob(os.path.join(TOK_DIR, "gguf", "*.gguf"))):
    _stem = os.path.basename(_p)[: -len(".gguf")]
    REGISTRY["gguf/" + _stem.replace("ggml-vocab-", "")] = ("gguf", os.path.relpath(_p, TOK_DIR), None)


def load(name: str) -> Backend:
    loader, rel, extra = REGISTRY[name]
    path = os.path.join(TOK_DIR, rel)
    if loader == "hf":
        return load_hf_json(name, path)
    if loader == "sp":
        return load_sentencepiece(name, path)
    if loader == "tiktoken":
        return load_tiktoken(name, path, extra)
    if loader == "gguf":
        return load_gguf(name, path)
    raise ValueError(loader)


# --------------------------------------------------------------------------------------
# Cross-checks
# --------------------------------------------------------------------------------------


def corpus_lines() -> List[tuple]:
    """(file, line) for every line of tinyshakespeare and pud/*.txt (as the brief names them)."""
    files = [os.path.join(CORPUS_DIR, "tinyshakespeare.txt")] + sorted(glob.glob(os.path.join(CORPUS_DIR, "pud", "*.txt")))
    out = []
    for f in files:
        with open(f, encoding="utf-8") as fh:
            for line in fh:
                out.append((os.path.relpath(f, CORPUS_DIR), line.rstrip("\n")))
    return out


EDGE_LINES = [
    "", " ", "  ", "   leading spaces", "trailing spaces   ", "a  b   c", "tab\tand\ttabs", "\t", "\r",
    "🦙🦙 emoji", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "\u00a0nbsp", "\u200bzero width", "ÿþý", "x" * 300, "ａｂｃ１２３", "한국어 텍스트",
    "e\u0301 combining", "\x00\x01 control", "▁already▁escaped", "«guard» chars",
]  # fmt: skip


def sp_crosscheck(name: str, be: Backend, lines: List[tuple], n_examples: int = 3) -> dict:
    """Does our converted tokenizer encode exactly like the ``sentencepiece`` library?

    This validates the converter (merges generation, normalizer, byte fallback) that the
    audit numbers for the .model files rest on.
    """
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=os.path.join(TOK_DIR, REGISTRY[name][1]))
    tok = be.info["_hf"]
    texts = [t for _, t in lines]
    ours = [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]
    theirs = sp.encode(texts)
    diffs = [k for k in range(len(texts)) if ours[k] != theirs[k]]
    per_file = {}
    for k in diffs:
        per_file[lines[k][0]] = per_file.get(lines[k][0], 0) + 1
    ex = []
    for k in diffs[:n_examples]:
        ex.append({"file": lines[k][0], "text": texts[k][:200], "ours": ours[k][:40], "sentencepiece": theirs[k][:40]})
    # decode direction too (sp.decode vs our decoder) on the same ids
    dec_diffs = sum(1 for k in range(len(texts)) if tok.decode(theirs[k], skip_special_tokens=False) != sp.decode(theirs[k]))
    return {"lines": len(texts), "encode_differing_lines": len(diffs), "per_file": per_file, "examples": ex,
            "decode_differing_lines": dec_diffs}  # fmt: skip


def gguf_checks(backends: Dict[str, Backend]) -> dict:
    """GGUF token lists vs the same vocabularies in their native formats."""
    out = {}

    def cmp(gname, other, n=None):
        """Compare id-ordered token lists; n limits the comparison to the first n ids."""
        g = [backends[gname].raw[i] for i in sorted(backends[gname].raw)]
        o = [other.raw[i] for i in sorted(other.raw)]
        if n is not None:
            g, o = g[:n], o[:n]
        diff = [k for k in range(min(len(g), len(o))) if g[k] != o[k]]
        return {"equal": g == o, "len_gguf": len(g), "len_other": len(o), "n_diff": len(diff),
                "first_diff": ({"id": diff[0], "gguf": g[diff[0]], "other": o[diff[0]]} if diff else None)}  # fmt: skip

    if "gguf/llama-spm" in backends:
        out["llama-spm == llama2 pieces"] = cmp("gguf/llama-spm", backends.get("llama2") or load("llama2"))
    if "gguf/gpt-2" in backends:
        out["gpt-2 == gpt2 tokenizer.json vocab"] = cmp("gguf/gpt-2", backends.get("gpt2") or load("gpt2"))
    if "gguf/llama-bpe" in backends:
        l3 = backends.get("llama3") or load("llama3")
        # The GGUF carries the Llama-3.0 special names (<|reserved_special_token_2|> at 128004 ...);
        # llama-models' preset uses the 3.1+ names, so only the 128000 ranks must agree.
        out["llama-bpe[:128000] == llama3 ranks"] = cmp("gguf/llama-bpe", l3, 128000)
        out["llama-bpe == llama3 incl. preset specials (3.0 vs 3.1 names: differ)"] = cmp("gguf/llama-bpe", l3)
    if "gguf/qwen2" in backends:
        out["qwen2[:151643] == qwen ranks"] = cmp("gguf/qwen2", backends.get("qwen") or load("qwen"), 151643)
    return out


# --------------------------------------------------------------------------------------
# Benchmark
# --------------------------------------------------------------------------------------


def bench(name: str, repeat: int = 1, parity: bool = True) -> dict:
    """Speed baseline: HF ``tokenizers`` object from the tiktoken file, magikarp-style loop.

    (a) load_s: rank file -> Tokenizer (TikTokenConverter); (b) audit_s: the per-id
    decode/encode categorize loop over every id. Thread settings are left as they are.
    Also checks that the category counts equal those of the tiktoken-library path.
    """
    loader, rel, family = REGISTRY[name]
    if loader != "tiktoken":
        raise SystemExit(f"--bench needs a tiktoken-format tokenizer, not {name}")
    path = os.path.join(TOK_DIR, rel)
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        tok, preset = hf_from_tiktoken(path, family)
        t1 = time.perf_counter()
        be = backend_from_hf_tokenizer(name + "-hf", tok, set(preset.specials.values()), "hf-from-tiktoken")
        aud = Auditor(be)
        cats = aud.categorize_all()
        t2 = time.perf_counter()
        runs.append((t1 - t0, t2 - t1))
    hf_counts = {c: 0 for c in CATEGORIES}
    for c in cats.values():
        hf_counts[c] += 1
    load_s, audit_s = min(r[0] for r in runs), min(r[1] for r in runs)  # best of `repeat`
    res = {"load_s": round(load_s, 3), "audit_s": round(audit_s, 3), "total_s": round(load_s + audit_s, 3), "n": len(cats)}
    if repeat > 1:
        res["repeat"] = repeat
    print(json.dumps(res), flush=True)
    if not parity:
        return res

    tk = load(name)
    tk_aud = Auditor(tk)
    tk_cats = tk_aud.categorize_all()
    tk_counts = {c: 0 for c in CATEGORIES}
    for c in tk_cats.values():
        tk_counts[c] += 1
    per_id_diff = [i for i in tk_cats if cats.get(i) != tk_cats[i]]
    parity = {
        "hf_categories": hf_counts,
        "tiktoken_categories": tk_counts,
        "equal_counts": hf_counts == tk_counts,
        "per_id_differences": len(per_id_diff),
        "first_differences": [(i, cats.get(i), tk_cats[i]) for i in per_id_diff[:5]],
        "raw_entries_equal": be.raw == tk.raw,
    }
    print(json.dumps({"parity": parity}, ensure_ascii=False))
    res["parity"] = parity
    return res


# --------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------


def versions() -> dict:
    import importlib.metadata as md

    return {p: md.version(p) for p in ("tokenizers", "sentencepiece", "tiktoken", "gguf", "protobuf")} | {
        "python": platform.python_version()
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--all", action="store_true", help="audit every registered tokenizer (incl. GGUF summaries)")
    ap.add_argument("--only", nargs="+", metavar="NAME", help=f"audit these: {', '.join(REGISTRY)}")
    ap.add_argument("--json-out", help="write results JSON here")
    ap.add_argument("--bench", metavar="NAME", help="time the HF-tokenizers baseline for a tiktoken tokenizer (llama3)")
    ap.add_argument("--repeat", type=int, default=1, help="bench: runs; the minimum of each phase is reported")
    ap.add_argument("--no-parity", action="store_true", help="bench: skip the tiktoken-library parity check (end-to-end timing)")
    ap.add_argument("--no-crosscheck", action="store_true", help="skip the sentencepiece-library cross-check")
    args = ap.parse_args(argv)

    if not (args.all or args.only or args.bench):
        ap.error("nothing to do: give --all, --only or --bench")

    names = list(REGISTRY) if args.all else (args.only or [])
    for n in names:
        if n not in REGISTRY:
            ap.error(f"unknown tokenizer {n!r}")

    results, backends = {}, {}
    lines = None
    crosscheck = {}
    for n in names:
        t0 = time.perf_counter()
        be = load(n)
        backends[n] = be
        if be.encode is None:
            res = summarize(be, None)
        else:
            res = audit_backend(be)
        results[n] = res
        line = {k: res[k] for k in ("vocab_size", "counts", "byte_kinds") if k in res}
        if "categories" in res:
            line["categories"] = res["categories"]
        print(f"{n}: {json.dumps(line)}  [{time.perf_counter() - t0:.1f}s]", flush=True)
        if be.kind == "sentencepiece" and not args.no_crosscheck:
            if lines is None:
                lines = corpus_lines() + [("<edge cases>", t) for t in EDGE_LINES]
            crosscheck[n] = sp_crosscheck(n, be, lines)
            print(f"  sentencepiece cross-check: {json.dumps(crosscheck[n], ensure_ascii=False)}", flush=True)

    checks = gguf_checks(backends) if any(b.kind == "gguf" for b in backends.values()) else {}
    for k, v in checks.items():
        print(f"gguf check {k}: {json.dumps(v)}")

    bench_res = bench(args.bench, args.repeat, not args.no_parity) if args.bench else None

    if args.json_out and names:
        doc = {
            "generator": "benches/reference_audit.py",
            "rules": "BRIEF §3 / cohere-ai magikarp TokenizerAnalyzer + categorize_token_infos",
            "versions": versions(),
            "tokenizers": results,
            "sentencepiece_crosscheck": crosscheck,
            "gguf_checks": checks,
        }
        with open(args.json_out, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1, ensure_ascii=False, sort_keys=False)
            f.write("\n")
        print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
