#!/usr/bin/env python3
"""What transformers' `apply_chat_template(messages, tokenize=False, add_generation_prompt=…)`
renders with the chat templates of three real GGUF files in ../shared/data (SmolLM2-135M-
Instruct, llama.cpp's Phi-3 and Qwen2 vocabularies), for tests/it/chat.rs: the template and
bos/eos tokens as the file holds them, each conversation of tests/chat/conversations.json
with and without the generation prompt. Writes tests/chat/expected.json; CI needs no
Python.

    python3 tests/chat/reference.py [GGUF_PY_DIR]   # gguf-py from llama.cpp's source
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent.parent / "shared/data"
FILES = {
    "smollm2": "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf",
    "phi3": "tokenizers/gguf/ggml-vocab-phi-3.gguf",
    "qwen2": "tokenizers/gguf/ggml-vocab-qwen2.gguf",
}


def field(r, key):
    f = r.fields.get(key)
    if f is None:
        return None
    v = f.parts[f.data[0]]
    return bytes(v).decode("utf-8") if v.dtype.kind == "u" and v.dtype.itemsize == 1 else int(v[0])


def main():
    if len(sys.argv) > 1:
        sys.path.insert(0, sys.argv[1])
    import gguf
    import transformers
    from transformers import PreTrainedTokenizerFast

    conversations = json.loads((HERE / "conversations.json").read_text())
    out = dict(transformers_version=transformers.__version__, templates={})
    for name, rel in FILES.items():
        r = gguf.GGUFReader(DATA / rel)
        template = field(r, "tokenizer.chat_template")
        f = r.fields["tokenizer.ggml.tokens"]
        tokens = [bytes(f.parts[i]).decode("utf-8") for i in f.data]
        bos = field(r, "tokenizer.ggml.bos_token_id")
        eos = field(r, "tokenizer.ggml.eos_token_id")
        tok = PreTrainedTokenizerFast(tokenizer_file=str(HERE.parent / "models/tokenizer.json"))
        tok.chat_template = template
        tok.bos_token = tokens[bos] if bos is not None else None
        tok.eos_token = tokens[eos] if eos is not None else None
        cases = []
        for c in conversations:
            for gen in (False, True):
                try:
                    text = tok.apply_chat_template(c["messages"], tokenize=False,
                                                   add_generation_prompt=gen)
                    cases.append(dict(name=c["name"], add_generation_prompt=gen, text=text))
                except Exception as e:  # the template's own raise_exception
                    cases.append(dict(name=c["name"], add_generation_prompt=gen,
                                      error=str(e)))
        out["templates"][name] = dict(file=rel, bos_token=tok.bos_token,
                                      eos_token=tok.eos_token, cases=cases)
        print(name, len(cases), file=sys.stderr)
    (HERE / "expected.json").write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
