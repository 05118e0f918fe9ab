"""Random-weight BERT models built locally, with no network: for tests and benchmarks only.

Their vocabulary has bert-base-chinese's size, 21128 (special tokens, punctuation, ASCII letters
and digits, every CJK Unified Ideograph U+4E00–U+9FFF, padded with [unusedN]), so tokenisation
behaves like the real model's: one token a Chinese character.
Speed does not depend on weight values, so a random model of bert-base-chinese's exact shape times
like the real one. Scores from these models mean nothing linguistically; never ship one as a model.
"""

from __future__ import annotations

import inspect
from pathlib import Path

VOCAB_SIZE = 21128
SHAPES = {
    # bert-base-chinese: 12 layers, hidden 768, 12 heads, intermediate 3072, 512 positions
    "base": dict(num_hidden_layers=12, hidden_size=768, num_attention_heads=12, intermediate_size=3072),
    "tiny": dict(num_hidden_layers=2, hidden_size=32, num_attention_heads=2, intermediate_size=64),
    # bert-base's vectors (768-d) without its layers: encodes the whole corpus in minutes
    "layerless768": dict(num_hidden_layers=0, hidden_size=768, num_attention_heads=12, intermediate_size=3072),
}


def chinese_vocab() -> list[str]:
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    punct = list("，。！？；：、“”‘’（）《》〈〉「」『』【】〔〕…—～·・〖〗□")
    alnum = [chr(c) for c in range(ord("0"), ord("9") + 1)] + [chr(c) for c in range(ord("A"), ord("Z") + 1)] \
        + [chr(c) for c in range(ord("a"), ord("z") + 1)]
    cjk = [chr(c) for c in range(0x4E00, 0xA000)]
    body = specials + punct + alnum + cjk
    return body + [f"[unused{i}]" for i in range(1, VOCAB_SIZE - len(body) + 1)]


def make_random_bert(out: str | Path, shape: str = "tiny", seed: int = 0) -> Path:
    """Write a random-weight BERT (transformers format: config, weights, tokenizer) to ``out``."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    vocab = chinese_vocab()
    assert len(vocab) == VOCAB_SIZE, len(vocab)
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    options = dict(do_lower_case=False, tokenize_chinese_chars=True, model_max_length=512)
    if "vocab" in inspect.signature(BertTokenizerFast.__init__).parameters:  # transformers >= 5
        tokenizer = BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}, **options)
    else:
        tokenizer = BertTokenizerFast(vocab_file=str(out / "vocab.txt"), **options)
    tokenizer.save_pretrained(out)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=VOCAB_SIZE, max_position_embeddings=512, **SHAPES[shape])
    model = BertModel(config).eval()
    model.save_pretrained(out)
    return out


if __name__ == "__main__":  # python -m random_models OUT [tiny|base]
    import sys

    print(make_random_bert(sys.argv[1], *(sys.argv[2:3] or ["tiny"])))


def cache_churn(directory: str | Path, commits: int = 190, rows: int = 4096, dimension: int = 768,
                seed: int = 0) -> dict:
    """Commit ``commits`` batches of ``rows`` random ``dimension``-d vectors to a fresh embedding
    cache in ``directory``, then look every one up again. Run it in a fresh process: it reports
    that process's bytes written (``/proc/self/io``) and memory growth (peak RSS minus RSS before).
    """
    import numpy as np

    from poetry_search.encode.cache import EmbeddingCache

    def io_written() -> int:
        with open("/proc/self/io") as f:
            return int(next(line for line in f if line.startswith("write_bytes:")).split()[1])

    def status(field: str) -> int:
        with open("/proc/self/status") as f:
            return int(next(line for line in f if line.startswith(field + ":")).split()[1]) * 1024

    def batch(i: int):
        texts = [f"{i}-{j}" for j in range(rows)]
        return texts, np.random.default_rng(seed + i).standard_normal((rows, dimension), dtype=np.float32)

    key = {"model_fingerprint": f"churn-{seed}", "precision": "fp32", "pooling": "mean", "normalize_version": 0,
           "max_seq_length": 512, "dimension": dimension}
    batch(0)  # numpy's random machinery, allocated before the baseline
    rss0, written0 = status("VmRSS"), io_written()
    cache = EmbeddingCache(directory, key)
    for i in range(commits):
        cache.store(*batch(i))
    written = io_written() - written0
    found = equal = 0
    reopened = EmbeddingCache(directory, key)
    for i in range(commits):
        texts, vecs = batch(i)
        hit, got = reopened.lookup(texts)
        found += int(hit.sum())
        equal += int((got == vecs).all(axis=1).sum())
    size = sum(f.stat().st_size for f in cache.path.rglob("*") if f.is_file())
    # VmHWM, not ru_maxrss: the latter keeps the high-water mark of the process that forked us
    peak = status("VmHWM")
    return {"commits": commits, "rows": rows, "dimension": dimension, "vectors": commits * rows, "found": found,
            "equal": equal, "final_bytes": size, "written_bytes": written, "write_ratio": written / size,
            "memory_growth_bytes": peak - rss0, "segments": len(reopened.segments)}
