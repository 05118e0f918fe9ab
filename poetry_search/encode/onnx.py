"""The query encoder on ONNX Runtime: the index's model without torch.

At build time the encoder (the model's forward pass, mean pooling over all tokens, L2
normalisation: the method of ``encoder.py``, from a fresh fp32 copy of the weights) is exported to
ONNX with torch's own exporter, checked against torch on a set of lines, and saved with the fast
tokenizer's ``tokenizer.json``. The export is made once per model, in the embedding cache folder
(``onnx-<fingerprint>/``), and hard-linked into each index folder (copied where a link cannot be
made): the index stays self-contained (it answers queries with neither the cache nor the model
folder), and ten indexes of one model share one 400 MB file on disk.

At query time only onnxruntime, tokenizers and numpy are imported. The manifest records each
file's size, modification time and sha256; a file whose size or time differs is hashed again, and
one whose hash differs, or that is missing or unreadable, is not used: the caller falls back to
the torch path with one warning naming the fix (``poetry-search index --index DIR --export-onnx``).
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

from ..errors import BuildError, PoetrySearchError, require

log = logging.getLogger("poetry_search")
ONNX_NAME = "encoder.onnx"
DATA_NAME = "encoder.onnx.data"
TOKENIZER_NAME = "tokenizer.json"
EXPORT_VERSION = 2  # bumped when the exported graph changes; part of the cache folder's name
MIN_COSINE = 0.99999  # ONNX Runtime vs torch fp32, checked at export
CHECK_LINES = ["春眠不觉晓", "大梦谁先觉", "浓睡不消残酒", "东临碣石以观沧海", "白日依山尽", "a", "关关雎鸠",
               "君不见黄河之水天上来奔流到海不复回", "床前明月光疑是地上霜举头望明月低头思故乡", "千山鸟飞绝"]


class OnnxUnavailable(PoetrySearchError):
    """The ONNX export of an index is missing, damaged, or cannot be loaded."""


# -- files -----------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    from ..store.files import file_hexdigest

    return file_hexdigest(path)


def file_record(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": _sha256(path)}


def check_file(path: Path, record: dict) -> None:
    """Raise OnnxUnavailable unless ``path`` holds the bytes ``record`` describes. Cheap when size
    and modification time are as recorded; otherwise the file is hashed."""
    try:
        st = path.stat()
    except OSError:
        raise OnnxUnavailable(f"{path} is missing") from None
    if st.st_size != record.get("size"):
        raise OnnxUnavailable(f"{path} has {st.st_size:,} bytes, not the {record.get('size'):,} recorded")
    if st.st_mtime_ns == record.get("mtime_ns"):
        return
    try:
        digest = _sha256(path)
    except OSError as e:
        raise OnnxUnavailable(f"{path} cannot be read ({e})") from None
    if digest != record.get("sha256"):
        raise OnnxUnavailable(f"{path} changed since it was recorded (sha256 {digest[:12]}…, recorded {record.get('sha256', '')[:12]}…)")


def _files(record: dict) -> list[tuple[str, str]]:
    """(file name, manifest key of its record) of every file of an export."""
    return [(record["file"], "onnx_file"), (record["data"], "data_file"), (record["tokenizer"], "tokenizer_file")]


# -- the query encoder -----------------------------------------------------------------------


class OnnxEncoder:
    """Texts → L2-normalised float32 vectors with an exported encoder, on ONNX Runtime.

    The same interface as ``Encoder`` for queries: ``token_ids``, ``too_long``, ``encode``,
    ``max_length``, ``dimension``. Lines are batched by equal token length, like the build, so no
    batch holds padding and the mean over all tokens is the model's mean.
    """

    backend = "onnx"

    def __init__(self, folder: str | Path, record: dict):
        folder = Path(folder)
        onnx_path, tok_path = folder / record["file"], folder / record["tokenizer"]
        for name, key in _files(record):
            check_file(folder / name, record[key])
        ort = require("onnxruntime")
        tokenizers = require("tokenizers")
        self.max_length = int(record["max_seq_length"])
        self.dimension = int(record["dimension"])
        try:
            self._tok = tokenizers.Tokenizer.from_file(str(tok_path))
            self._tok.no_padding()
            self._tok.no_truncation()
            self._tok_cut = tokenizers.Tokenizer.from_file(str(tok_path))
            self._tok_cut.no_padding()
            self._tok_cut.enable_truncation(self.max_length)
        except Exception as e:  # noqa: BLE001 - any parse failure means "not usable"
            raise OnnxUnavailable(f"{tok_path} cannot be read ({type(e).__name__}: {str(e)[:120]})") from None
        opts = ort.SessionOptions()
        opts.log_severity_level = 3  # ORT's own warnings are not the user's business
        # ORT's worker threads spin after each run by default, waiting for the next one; a query
        # then hands its vectors to FAISS, whose threads lost the cores to that spinning (a
        # 15k-line flat search took 16 ms instead of ~3).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(str(onnx_path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001
            raise OnnxUnavailable(f"{onnx_path} cannot be loaded by ONNX Runtime ({type(e).__name__}: {str(e)[:160]})") from None
        self._input = self._session.get_inputs()[0].name
        self.unk_token_id = self._tok.token_to_id(record.get("unk_token") or "[UNK]")

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids with [CLS]/[SEP], truncated to the model's maximum length."""
        return [e.ids for e in self._tok_cut.encode_batch(list(texts), add_special_tokens=True)]

    def too_long(self, texts: Sequence[str]) -> list[int]:
        """Indices of texts the model will truncate."""
        full = self._tok.encode_batch(list(texts), add_special_tokens=True)
        return [i for i, e in enumerate(full) if len(e.ids) > self.max_length]

    def refuse_unknown(self, texts: Sequence[str], originals: Sequence[str] | None = None) -> None:
        """Raise UsageProblem for a text whose every token is [UNK]: the check of ``vocab.py``, fed
        with this tokenizer's ids and offsets (the same as the torch encoder's tokenizer gives)."""
        from .vocab import refuse_unknown

        encs = self._tok.encode_batch(list(texts), add_special_tokens=False)
        refuse_unknown(texts, [e.ids for e in encs], [e.offsets for e in encs], self.unk_token_id, originals)

    def encode_ids(self, ids: list[list[int]], batch_size: int = 256) -> np.ndarray:
        out = np.empty((len(ids), self.dimension), dtype=np.float32)
        if not ids:
            return out
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        order = np.argsort(lengths, kind="stable")
        start = 0
        while start < len(order):
            length = lengths[order[start]]
            end = start
            while end < len(order) and lengths[order[end]] == length and end - start < batch_size:
                end += 1
            rows = order[start:end]
            batch = np.array([ids[i] for i in rows], dtype=np.int64)
            out[rows] = self._session.run(None, {self._input: batch})[0]
            start = end
        return out

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors (n × dimension, float32, unit length) in the order of ``texts``."""
        return self.encode_ids(self.token_ids(texts))


def open_for_index(folder: str | Path, manifest: dict) -> OnnxEncoder | None:
    """The index's ONNX query encoder; None (with one warning naming the fix) when the index has
    an export that cannot be used, and None silently when it was built without one."""
    record = manifest.get("onnx")
    if not record:
        return None
    try:
        return OnnxEncoder(folder, record)
    except OnnxUnavailable as e:
        log.warning(f"the ONNX query encoder cannot be used ({e}): falling back to torch (slow start); "
                    f"restore it with `poetry-search index --index {folder} --export-onnx`")
        return None


# -- export (build time; imports torch) ------------------------------------------------------


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
            for name, key in _files(record):
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
    for name, key in _files(record):
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
