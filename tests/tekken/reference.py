#!/usr/bin/env python3
"""What mistral-common (the independent implementation) says of its two Tekken files, for
tests/it/tekken.rs: per file, the audit's counts by mistral-common's own encode/decode
(specials; tokens whose bytes are not UTF-8; tokens whose text encodes back to exactly
themselves; the rest), and for real texts of ../shared/data/corpus the number of ids, the
first 64, and an FNV-1a-64 hash of all of them (little-endian u32 per id). Writes
tests/tekken/expected.json; CI needs no Python.

    python3 tests/tekken/reference.py DIR_WITH_TEKKEN_FILES
"""

import json
import sys
from pathlib import Path

import mistral_common
from mistral_common.tokens.tokenizers.tekken import Tekkenizer

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent.parent.parent / "shared/data/corpus"
TEXTS = ["pud/en.txt", "pud/de.txt", "pud/fr.txt", "pud/ru.txt", "pud/ar.txt", "pud/hi.txt",
         "pud/ja.txt", "pud/zh.txt", "code/humaneval_rust.jsonl", "numeric/gdp.csv",
         "tinyshakespeare.txt"]
FILES = ["tekken_240718.json", "tekken_240911.json"]


def fnv(ids):
    h = 0xcbf29ce484222325
    for i in ids:
        for b in int(i).to_bytes(4, "little"):
            h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def main():
    src = Path(sys.argv[1])
    out = dict(mistral_common_version=mistral_common.__version__, files={})
    for f in FILES:
        tok = Tekkenizer.from_file(src / f)
        n_special = tok.num_special_tokens
        counts = dict(special=n_special, undecodeable=0, ok=0, unreachable=0)
        for i in range(n_special, tok.n_words):
            b = tok.id_to_byte_piece(i)
            try:
                text = b.decode("utf-8")
            except UnicodeDecodeError:
                counts["undecodeable"] += 1
                continue
            if tok.encode(text, bos=False, eos=False) == [i]:
                counts["ok"] += 1
            else:
                counts["unreachable"] += 1
        texts = {}
        for t in TEXTS:
            # Bytes, not read_text: universal newlines would turn \r\n into \n.
            ids = tok.encode((CORPUS / t).read_bytes().decode("utf-8"), bos=False, eos=False)
            texts[t] = dict(count=len(ids), first=ids[:64], fnv=fnv(ids))
        out["files"][f] = dict(vocab_size=tok.n_words, bos=tok.bos_id, eos=tok.eos_id,
                               counts=counts, texts=texts)
        print(f, counts, file=sys.stderr)
    (HERE / "expected.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
