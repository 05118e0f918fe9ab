"""The ONNX export of an index's encoder (build time; the runtime is ``onnx_runtime.py``).

The encoder (the model's forward pass, mean pooling over all tokens, L2 normalisation: the method
of ``encoder.py``, from a fresh fp32 copy of the weights) is exported to ONNX with torch's own
exporter, checked against torch on a set of lines, and saved with the fast tokenizer's
``tokenizer.json``. The export is made once per model, in the embedding cache folder
(``onnx-<fingerprint>/``), and hard-linked into each index folder (copied where a link cannot be
made): the index stays self-contained (it answers queries with neither the cache nor the model
folder), and ten indexes of one model share one file on disk.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import BuildError, require
from .onnx_runtime import (
    DATA_NAME,
    ONNX_NAME,
    TOKENIZER_NAME,
    OnnxEncoder,
    OnnxUnavailable,
    check_file,
    file_record,
    record_files,
)

log = logging.getLogger("poetry_search")
EXPORT_VERSION = 2  # bumped when the exported graph changes; part of the cache folder's name
MIN_COSINE = 0.99999  # ONNX Runtime vs torch fp32, checked at export
CHECK_LINES = ["春眠不觉晓", "大梦谁先觉", "浓睡不消残酒", "东临碣石以观沧海", "白日依山尽", "a", "关关雎鸠",
               "君不见黄河之水天上来奔流到海不复回", "床前明月光疑是地上霜举头望明月低头思故乡", "千山鸟飞绝"]


def _export_graph(model, example, path: Path) -> None:
    import torch

    class Pipeline(torch.nn.Module):
        """The project's encoder on input ids alone: no padding ever reaches it (equal-length
        batches), so the attention mask is all ones and the mean covers every token."""

        def __init__(self, st_model):
            super().__init__()
            self.st_model = st_model

        def forward(self, input_ids):
            features = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids),
                        "token_type_ids": torch.zeros_like(input_ids)}
            emb = self.st_model(features)["sentence_embedding"].float()
            return torch.nn.functional.normalize(emb, dim=-1)

    pipe = Pipeline(model).eval()
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        # The TorchScript exporter: exact here (max |Δ| ~1e-7 vs torch on bert-base) and quicker than
        # the dynamo one, whose output for this graph ONNX Runtime refused (duplicate names), measured.
        torch.onnx.export(pipe, (example,), str(path), input_names=["input_ids"], output_names=["vector"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "vector": {0: "batch"}},
                          opset_version=17, dynamo=False)


def _weights_apart(path: Path, data_name: str) -> None:
    """Move the weights out of the graph file into ``data_name`` beside it: ONNX Runtime maps an
    external data file instead of parsing 400 MB of protobuf (session start 2.4 s → 1.0 s on
    bert-base, measured under load)."""
    onnx = require("onnx")
    model = onnx.load(str(path))
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=data_name, size_threshold=1024)


def _check_export(folder: Path, record: dict, model, hf_tokenizer, lines: Sequence[str]) -> float:
    """Min cosine between ONNX Runtime and torch fp32 vectors of ``lines``; the token ids of the
    exported tokenizer must equal the model's own tokenizer's."""
    import torch

    enc = OnnxEncoder(folder, record)
    ids = enc.token_ids(lines)
    want_ids = hf_tokenizer(list(lines), add_special_tokens=True, truncation=True, max_length=enc.max_length,
                            return_attention_mask=False, return_token_type_ids=False)["input_ids"]
    if ids != [list(x) for x in want_ids]:
        raise BuildError("the exported tokenizer.json splits lines differently from the model's tokenizer: "
                         "the ONNX export was not made (queries use torch)")
    got = enc.encode_ids(ids)
    with torch.inference_mode():
        want = []
        for row in ids:
            t = torch.tensor([row], dtype=torch.long)
            f = {"input_ids": t, "attention_mask": torch.ones_like(t), "token_type_ids": torch.zeros_like(t)}
            want.append(torch.nn.functional.normalize(model(f)["sentence_embedding"].float(), dim=-1)[0].numpy())
    return float((got * np.stack(want)).sum(axis=1).min())


def export_folder(cache_root: Path, fingerprint: str) -> Path:
    return cache_root / f"onnx-{fingerprint}-v{EXPORT_VERSION}"


def export_encoder(resolved, cache_dir: str | Path | None, lines: Sequence[str] = ()) -> tuple[Path, dict]:
    """Make (or reuse) the ONNX export of a resolved model in the cache; returns its folder and
    the record the manifest keeps. ``lines`` (e.g. some corpus lines) are checked with the rest."""
    from .cache import default_cache_dir
    from .encoder import _max_length, _use_eager_attention, load_sentence_transformer

    root = Path(cache_dir) if cache_dir else default_cache_dir()
    folder = export_folder(root, resolved.fingerprint)
    meta = folder / "export.json"
    if meta.exists():
        try:
            record = json.loads(meta.read_text())
            for name, key in record_files(record):
                check_file(folder / name, record[key])
            return folder, record
        except (OnnxUnavailable, OSError, ValueError, KeyError, TypeError):
            pass  # a damaged export is made again
    model, _ = load_sentence_transformer(resolved, "cpu")  # fresh fp32 weights, whatever the build's precision
    _use_eager_attention(model)
    tok = model.tokenizer
    if not getattr(tok, "is_fast", False) or not hasattr(tok, "backend_tokenizer"):
        raise BuildError(f"model {resolved.spec} has no fast tokenizer (tokenizer.json): the ONNX export needs one")
    max_length = int(model.max_seq_length or _max_length(model[0]))
    dimension = int(model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension")
                    else model.get_sentence_embedding_dimension())
    tmp = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        tok.backend_tokenizer.save(str(tmp / TOKENIZER_NAME))
        import torch

        example = torch.tensor(tok(["春眠不觉晓", "大梦谁先觉"])["input_ids"], dtype=torch.long)
        _export_graph(model, example, tmp / ONNX_NAME)
        _weights_apart(tmp / ONNX_NAME, DATA_NAME)
        record = {"file": ONNX_NAME, "data": DATA_NAME, "tokenizer": TOKENIZER_NAME, "export_version": EXPORT_VERSION,
                  "model_fingerprint": resolved.fingerprint, "dimension": dimension, "max_seq_length": max_length,
                  "unk_token": tok.unk_token, "exporter": f"torch.onnx (TorchScript) {torch.__version__}, opset 17",
                  "onnx_file": file_record(tmp / ONNX_NAME), "data_file": file_record(tmp / DATA_NAME),
                  "tokenizer_file": file_record(tmp / TOKENIZER_NAME)}
        check = list(dict.fromkeys([*CHECK_LINES, *lines]))
        cosine = _check_export(tmp, record, model, tok, check)
        if not cosine >= MIN_COSINE:
            raise BuildError(f"the ONNX export gives vectors off torch's (min cosine {cosine:.6f} < {MIN_COSINE}): not used")
        record["checked"] = {"lines": len(check), "min_cosine": round(cosine, 7)}
        (tmp / "export.json").write_text(json.dumps(record, indent=1))
        shutil.rmtree(folder, ignore_errors=True)
        os.rename(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder, record


def install(export: Path, record: dict, index_folder: Path) -> dict:
    """Put an export's files into an index folder (hard links where possible) under temporary
    names, then rename them in; returns the record for the manifest (times of the index's files)."""
    out = dict(record)
    for name, key in record_files(record):
        tmp = index_folder / f".{name}.partial-{os.getpid()}"
        tmp.unlink(missing_ok=True)
        try:
            os.link(export / name, tmp)
        except OSError:
            shutil.copyfile(export / name, tmp)
        os.replace(tmp, index_folder / name)
        st = (index_folder / name).stat()
        out[key] = {**record[key], "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    return out
