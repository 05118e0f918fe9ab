"""Models: where they come from, and how a line becomes a vector.

A model is a sentence-transformers pipeline Transformer → mean Pooling → Normalize. For one line
that is exactly ``torch.mean(model(ids).last_hidden_state, dim=1)`` ([CLS] and [SEP] included),
divided by its norm. ``Encoder`` batches lines of *equal token length* together, so no batch holds
padding and the mean over all tokens is the mean the reference computes, whatever the batch.

Model specs: a local folder (plain transformers or a saved sentence-transformers model, used as it
is), a Hugging Face id through the normal cache (``HF_HOME``, ``HF_HUB_OFFLINE``, ``HF_ENDPOINT``),
or ``modelscope:ID``. Nothing else is ever put in a model's place.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelNotFoundError, UsageProblem, require
from ..options import (
    DEFAULT_MODEL,
    DEVICES,
    ENCODE_BATCH_SIZE,
    LINES_PER_PASS,
    PRECISIONS,
    TOKENS_PER_LINE,
)

POOLING = "mean(last_hidden_state, all tokens incl. [CLS]/[SEP]) then L2"
_HF_PATTERNS = ["*.json", "*.txt", "*.safetensors", "1_Pooling/*", "2_Normalize/*"]


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model spec led: the folder that holds it, and what identifies its weights."""

    spec: str
    path: str
    source: str  # "local", "huggingface" or "modelscope"
    revision: str | None
    fingerprint: str
    files: dict | None = None  # relative path -> [size, mtime_ns]: the cheap check at query time


def _how_to_get(spec: str) -> str:
    return (
        f"Ways to fix: download it once where there is network (`hf download {spec}`, or python -c "
        f"\"from huggingface_hub import snapshot_download; snapshot_download('{spec}')\") and copy the "
        f"Hugging Face cache here (or point HF_HOME at it); or pass a local model folder with --model PATH "
        f"(make index MODEL=PATH); or set HF_ENDPOINT to a mirror you can reach; or use "
        f"--model modelscope:tiansz/{spec} (pip install 'poetry-search[modelscope]')"
    )


def fingerprint_folder(path: str | Path) -> str:
    """sha256 over every file's relative path and content: the identity of a model's files."""
    from ..files import tree_digest

    root = Path(path)
    return tree_digest(root, sorted(p for p in root.rglob("*") if p.is_file()
                                    and not any(part.startswith(".") for part in p.relative_to(root).parts)))


def model_files(path: str | Path) -> dict[str, list[int]]:
    """Size and modification time of every file of a model folder (symlinks followed, as in the
    Hugging Face cache): what tells, without reading 400 MB, whether the weights may have changed."""
    root = Path(path)
    out = {}
    for f in sorted(p for p in root.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)):
        st = f.stat()
        out[f.relative_to(root).as_posix()] = [st.st_size, st.st_mtime_ns]
    return out


def _fingerprint(path: Path, known: dict | None) -> tuple[str, dict]:
    """The folder's fingerprint, hashed again only when its files' sizes or times differ from
    ``known`` (``{"fingerprint", "files"}`` as an index's manifest recorded them)."""
    files = model_files(path)
    if known and known.get("files") == files and known.get("fingerprint"):
        return known["fingerprint"], files
    return fingerprint_folder(path), files


def _is_model_folder(p: Path) -> bool:
    return (p / "config.json").exists() or (p / "modules.json").exists()


def resolve_model(spec: str, known: dict | None = None) -> ResolvedModel:
    """Find a model's files: a folder, a Hugging Face id (cache first), or ``modelscope:ID``.

    ``known`` (``{"fingerprint", "files"}`` from a manifest) skips hashing the weights when every
    file still has the size and modification time recorded then."""
    if not spec or not spec.strip():
        raise UsageProblem("--model is empty: pass a Hugging Face id, a folder, or modelscope:ID")
    local = Path(spec).expanduser()
    if local.exists():
        if not local.is_dir() or not _is_model_folder(local):
            raise ModelNotFoundError(
                f"{spec} is not a model folder (no config.json or modules.json): pass a folder saved by "
                "transformers' or sentence-transformers' save_pretrained/save"
            )
        return ResolvedModel(spec, str(local.resolve()), "local", None, *_fingerprint(local, known))
    if spec.startswith("modelscope:"):
        return _resolve_modelscope(spec, known)
    if spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        raise ModelNotFoundError(f"no model folder at {spec}: check the path, or pass a Hugging Face id such as {DEFAULT_MODEL}")
    return _resolve_hf(spec, known)


def _resolve_hf(spec: str, known: dict | None = None) -> ResolvedModel:
    hub = require("huggingface_hub")
    tried = []
    try:
        path = hub.snapshot_download(spec, allow_patterns=_HF_PATTERNS, local_files_only=True)
        tried.append("cache: found")
    except Exception as e:  # noqa: BLE001 - any failure here means "not in the cache"
        tried.append(f"the Hugging Face cache ({hub.constants.HF_HUB_CACHE}): not there ({type(e).__name__})")
        path = None
    if path is None and not hub.constants.HF_HUB_OFFLINE:
        endpoint = hub.constants.ENDPOINT
        try:
            # One quick request first: the download itself retries for half a minute on no network.
            hub.HfApi(endpoint=endpoint).model_info(spec, timeout=10)
            path = hub.snapshot_download(spec, allow_patterns=_HF_PATTERNS)
        except Exception as e:  # noqa: BLE001
            reason = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
            tried.append(f"{endpoint}: {reason}")
    elif path is None:
        tried.append("the hub: not asked (HF_HUB_OFFLINE is set)")
    if path is None or not _is_model_folder(Path(path)):
        raise ModelNotFoundError(f"cannot load model {spec}: tried {'; '.join(tried)}. {_how_to_get(spec)}")
    revision = Path(path).name  # the snapshot folder is named by the commit hash
    return ResolvedModel(spec, str(path), "huggingface", revision, *_fingerprint(Path(path), known))


def _resolve_modelscope(spec: str, known: dict | None = None) -> ResolvedModel:
    model_id = spec.split(":", 1)[1]
    try:
        import modelscope  # noqa: F401
        from modelscope import snapshot_download
    except ImportError:
        raise ModelNotFoundError(
            f"cannot load model {spec}: the modelscope package is not installed: "
            "pip install 'poetry-search[modelscope]', or pass a local folder with --model PATH"
        ) from None
    try:
        path = snapshot_download(model_id)
    except Exception as e:  # noqa: BLE001
        raise ModelNotFoundError(
            f"cannot load model {spec} from ModelScope ({str(e).splitlines()[0][:160] if str(e) else type(e).__name__}): "
            "check the id and your network, or download it where there is network and pass the folder with --model PATH"
        ) from None
    return ResolvedModel(spec, str(path), "modelscope", None, *_fingerprint(Path(path), known))


# ---------------------------------------------------------------------------------------------


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with AMX or AVX512-BF16, where bf16 matrix products beat fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(f in flags for f in ("amx_bf16", "avx512_bf16"))


def choose_device(device: str) -> str:
    import torch

    if device not in DEVICES:
        raise UsageProblem(f"unknown device {device!r}: use one of {', '.join(DEVICES)}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageProblem("--device cuda but no CUDA GPU is visible to torch: use --device cpu")
    return device


def choose_precision(precision: str, device: str) -> str:
    import torch

    if precision not in PRECISIONS:
        raise UsageProblem(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    if device == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_fast_bf16() else "fp32"


def _st_modules():
    try:
        from sentence_transformers.sentence_transformer.modules import (
            Normalize,
            Pooling,
            Transformer,
        )
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.models import Normalize, Pooling, Transformer
    return Transformer, Pooling, Normalize


def load_sentence_transformer(resolved: ResolvedModel, device: str = "cpu"):
    """The sentence-transformers model for a resolved spec: saved ST models as they are, plain
    transformers models wrapped as Transformer → mean Pooling → Normalize."""
    st = require("sentence_transformers")
    path = Path(resolved.path)
    with _quiet_transformers(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if (path / "modules.json").exists():
                model = st.SentenceTransformer(str(path), device=device, local_files_only=True)
                pooling = _describe_pooling(model)
            else:
                Transformer, Pooling, Normalize = _st_modules()
                transformer = Transformer(str(path))
                transformer.max_seq_length = _max_length(transformer)
                pool = Pooling(transformer.get_embedding_dimension(), "mean")
                model = st.SentenceTransformer(modules=[transformer, pool, Normalize()], device=device)
                pooling = POOLING
        except Exception as e:  # noqa: BLE001
            raise ModelNotFoundError(
                f"cannot load model {resolved.spec} from {path}: {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
                " — pass a folder saved by transformers or sentence-transformers"
            ) from None
    model.eval()
    return model, pooling


@contextlib.contextmanager
def _quiet_transformers():
    """No weight-loading bar or load notices while a model loads; transformers' own settings (the
    host program's) are put back afterwards."""
    from transformers.utils import logging as hf_logging

    verbosity, bar = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bar:
            hf_logging.enable_progress_bar()


def _use_eager_attention(model) -> None:
    for module in model:
        auto = getattr(module, "auto_model", None) or getattr(module, "model", None)
        if auto is not None and hasattr(auto, "set_attn_implementation"):
            try:
                auto.set_attn_implementation("eager")
            except (ValueError, ImportError, AttributeError):  # a model without an eager path keeps its own
                pass


def _max_length(transformer) -> int:
    cfg = transformer.auto_model.config
    limits = [getattr(cfg, "max_position_embeddings", 512), 512]
    tmax = getattr(transformer.tokenizer, "model_max_length", None)
    if isinstance(tmax, int) and tmax < 100_000:
        limits.append(tmax)
    return min(limits)


def _describe_pooling(model) -> str:
    parts = []
    for module in model:
        name = type(module).__name__
        if name == "Pooling":
            cfg = module.get_config_dict() if hasattr(module, "get_config_dict") else {}
            modes = [k.replace("pooling_mode_", "") for k, v in cfg.items() if k.startswith("pooling_mode_") and v]
            parts.append(f"Pooling({','.join(modes) or cfg.get('pooling_mode', '?')})")
        elif name not in ("Transformer",):
            parts.append(name)
    return "sentence-transformers: " + " → ".join(parts or ["(no pooling module)"])


class Encoder:
    """Turns texts into L2-normalised float32 vectors with a sentence-transformers model."""

    def __init__(self, model: str = DEFAULT_MODEL, device: str = "auto", precision: str = "auto",
                 batch_size: int | None = None, known: dict | None = None):
        import torch

        self.resolved = resolve_model(model, known)
        self.device = choose_device(device)
        self.precision = choose_precision(precision, self.device)
        self.batch_size = batch_size or ENCODE_BATCH_SIZE[self.device]
        if self.batch_size < 1:
            raise UsageProblem("--batch-size must be at least 1")
        self.model, self.pooling = load_sentence_transformer(self.resolved, self.device)
        if self.precision == "bf16":
            # bf16 weights rather than autocast: autocast re-casts activations around every op
            # (~10% of CPU time, measured); the GEMMs accumulate in fp32 either way.
            self.model.to(torch.bfloat16)
        if self.device == "cpu":
            # Poetry lines are 5-12 tokens: plain attention beats SDPA's kernels there (~14% faster
            # end to end on bert-base, measured); the result is the same computation.
            _use_eager_attention(self.model)
        self.tokenizer = self.model.tokenizer
        self.max_length = int(self.model.max_seq_length or 512)
        self.dimension = int(self.model.get_embedding_dimension() if hasattr(self.model, "get_embedding_dimension")
                             else self.model.get_sentence_embedding_dimension())
        self._needs_type_ids = "token_type_ids" in getattr(self.tokenizer, "model_input_names", [])
        self._torch = torch

    def describe(self) -> dict:
        """What the manifest records of this encoder."""
        return {
            "model": self.resolved.spec,
            "model_path": self.resolved.path,
            "model_source": self.resolved.source,
            "model_revision": self.resolved.revision,
            "model_fingerprint": self.resolved.fingerprint,
            "model_files": self.resolved.files,
            "dimension": self.dimension,
            "pooling": self.pooling,
            "precision": self.precision,
            "device": self.device,
            "max_seq_length": self.max_length,
        }

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids with [CLS]/[SEP], truncated to the model's maximum length."""
        return self.tokenizer(list(texts), add_special_tokens=True, truncation=True, max_length=self.max_length,
                              return_attention_mask=False, return_token_type_ids=False)["input_ids"]

    def refuse_unknown(self, texts: Sequence[str], originals: Sequence[str] | None = None) -> None:
        """Raise UsageProblem for a text whose every token is [UNK] (see vocab.py)."""
        from .vocab import refuse_unknown

        enc = self.tokenizer(list(texts), add_special_tokens=False, truncation=False, return_offsets_mapping=True,
                             return_attention_mask=False, return_token_type_ids=False)
        refuse_unknown(texts, enc["input_ids"], enc["offset_mapping"], self.tokenizer.unk_token_id, originals)

    def too_long(self, texts: Sequence[str]) -> list[int]:
        """Indices of texts the model will truncate."""
        full = self.tokenizer(list(texts), add_special_tokens=True, truncation=False,
                              return_attention_mask=False, return_token_type_ids=False)["input_ids"]
        return [i for i, ids in enumerate(full) if len(ids) > self.max_length]

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None):
        """Vectors (n × dimension, float32, unit length) in the order of ``texts``."""
        import numpy as np

        from .batching import equal_length_batches

        torch = self._torch
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        ids = self.token_ids(texts)
        with torch.inference_mode():
            for rows in equal_length_batches(ids, self.batch_size * LINES_PER_PASS, self.batch_size * TOKENS_PER_LINE):
                input_ids = torch.tensor([ids[i] for i in rows], dtype=torch.long, device=self.device)
                features = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}
                if self._needs_type_ids:
                    features["token_type_ids"] = torch.zeros_like(input_ids)
                emb = self.model(features)["sentence_embedding"].float()
                # Re-normalise in fp32: a bf16 Normalize leaves norms a few 1e-3 off unit.
                emb = torch.nn.functional.normalize(emb, dim=-1)
                out[rows] = emb.cpu().numpy()
                if progress:
                    progress(len(rows))
        return out
