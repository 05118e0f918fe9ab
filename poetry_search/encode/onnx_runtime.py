"""The query encoder on ONNX Runtime: the index's model without torch (query time).

At query time only onnxruntime, tokenizers and numpy are imported. The manifest records each
file's size, modification time and sha256; a file whose size or time differs is hashed again, and
one whose hash differs, or that is missing or unreadable, is not used: the caller falls back to
the torch path with one warning naming the fix (``poetry-search index --index DIR --export-onnx``).
The export itself is made at build time by ``onnx_export.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import PoetrySearchError, require
from .batching import equal_length_batches

log = logging.getLogger("poetry_search")
ONNX_NAME = "encoder.onnx"
DATA_NAME = "encoder.onnx.data"
TOKENIZER_NAME = "tokenizer.json"


class OnnxUnavailable(PoetrySearchError):
    """The ONNX export of an index is missing, damaged, or cannot be loaded."""


# -- files -----------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    from ..files import file_hexdigest

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


def record_files(record: dict) -> list[tuple[str, str]]:
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
        for name, key in record_files(record):
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
        for rows in equal_length_batches(ids, batch_size):
            batch = np.array([ids[i] for i in rows], dtype=np.int64)
            out[rows] = self._session.run(None, {self._input: batch})[0]
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
