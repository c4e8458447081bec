#!/usr/bin/env python3
"""Convert tiny reference checkpoints of tests/models/ to f32 GGUF files with llama.cpp's own
converter (convert_hf_to_gguf.py, from the llama.cpp source that scripts/build-llama-server.sh
builds), for tests/it/reference_models.rs's in-process GGUF check: NAME/model.gguf beside
NAME/reference.json. The shared tests/models/tokenizer.json is the vocabulary; its
pre-tokenizer (byte-level, GPT-2's split) is unknown to the converter's hash table, so it is
declared `gpt2`, which is what it is.

    python3 tests/models/to_gguf.py LLAMA_CPP_SOURCE_DIR NAME [NAME ...]
"""

import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main():
    src = Path(sys.argv[1]).resolve()
    sys.path[:0] = [str(src), str(src / "gguf-py")]
    import conversion.base as base
    import convert_hf_to_gguf as convert

    base.TextModel.get_vocab_base_pre = lambda self, tokenizer: "gpt2"
    # transformers 5 picks the architecture's own tokenizer class (Qwen2's adds
    # <|endoftext|>): the plain file is what the checkpoints were made with.
    import transformers

    def plain(path, **_):
        return transformers.PreTrainedTokenizerFast(
            tokenizer_file=str(Path(path) / "tokenizer.json"),
            bos_token="<s>", eos_token="</s>", pad_token="<pad>")

    transformers.AutoTokenizer.from_pretrained = plain
    for name in sys.argv[2:]:
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp) / name
            shutil.copytree(HERE / name, d)
            shutil.copy(HERE / "tokenizer.json", d / "tokenizer.json")
            out = HERE / name / "model.gguf"
            sys.argv = ["convert_hf_to_gguf.py", str(d), "--outtype", "f32", "--outfile", str(out)]
            convert.main()
            print(f"{name}: {out.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
