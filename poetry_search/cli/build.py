"""Making an index: corpus (what a corpus folder holds) and index (the build)."""

from __future__ import annotations

import click

from ..errors import UsageProblem
from ..options import (
    DEFAULT_CORPUS,
    DEFAULT_INDEX,
    DEFAULT_MODEL,
    DEVICES,
    ENCODE_BATCH_SIZE,
    FLAT_LIMIT,
    HNSW_EF_CONSTRUCTION,
    LINES_PER_PASS,
    PRECISIONS,
    TOKENS_PER_LINE,
)
from .format import build_report, corpus_table, dump


@click.command()
@click.argument("directory", default=DEFAULT_CORPUS, required=False, type=click.Path())
@click.option("--strict", is_flag=True, help="Fail on the first file that cannot be read, instead of skipping it.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def corpus(directory, strict, as_json):
    """Count poems, lines and distinct lines per collection of a corpus folder.

    DIRECTORY is laid out like the chinese-poetry package's dist/ (default: data/sample;
    `make corpus` fetches the whole dataset into data/chinese-poetry).

    \b
    Examples:
        poetry-search corpus
        poetry-search corpus data/chinese-poetry --json
    """
    from ..corpus.reader import corpus_stats

    stats = corpus_stats(directory, strict=strict, echo=lambda m: click.echo(m, err=True))
    if as_json:
        click.echo(dump(stats))
        return
    click.echo(corpus_table(stats))
    if stats["skipped"]:
        click.echo(f"{len(stats['skipped'])} file(s) skipped: see the warnings above", err=True)


@click.command()
@click.option("--corpus", "corpus_dir", default=DEFAULT_CORPUS, show_default=True, type=click.Path(),
              help="Corpus folder (laid out like chinese-poetry's dist/).")
@click.option("--index", "index_dir", default=DEFAULT_INDEX, show_default=True, type=click.Path(),
              help="Where to write the index (replaced atomically when the build completes).")
@click.option("--model", default=DEFAULT_MODEL, show_default=True,
              help="Hugging Face id, local model folder, or modelscope:ID.")
@click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
              help="auto: bf16 where the hardware runs it fast (AMX/AVX512-BF16 CPUs, CUDA), else fp32.")
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
              help="auto: CUDA when torch sees a GPU, else CPU.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help=f"Lines per forward pass for lines of {TOKENS_PER_LINE} tokens; shorter lines go up to {LINES_PER_PASS}x "
                   f"as many at once, longer ones fewer (default: {ENCODE_BATCH_SIZE['cpu']} on CPU, "
                   f"{ENCODE_BATCH_SIZE['cuda']} on CUDA).")
@click.option("--index-type", default="auto", show_default=True,
              help="auto, flat (exact), hnsw, ivf, ivf-hnsw (IVF with an HNSW coarse quantizer), or a FAISS "
                   f"index-factory string. auto: flat up to {FLAT_LIMIT // 1000}k lines, else hnsw.")
@click.option("--ef-construction", type=int, default=None,
              help=f"HNSW indexes: the graph's build depth (default {HNSW_EF_CONSTRUCTION}). Higher builds more slowly "
                   "a graph that reaches the same recall at a smaller search depth (faster queries and exports).")
@click.option("--cache", "cache_dir", type=click.Path(), default=None,
              help="Embedding cache folder (default: $POETRY_SEARCH_CACHE or ~/.cache/poetry-search).")
@click.option("--strict", is_flag=True, help="Fail on the first unreadable corpus file.")
@click.option("--no-onnx", is_flag=True,
              help="Do not put the ONNX query encoder in the index (queries then load torch: seconds slower to start).")
@click.option("--export-onnx", is_flag=True,
              help="Only add the ONNX query encoder to the existing index at --index (re-encodes nothing, rebuilds nothing).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or notes, only warnings and errors.")
@click.option("--lexical-only", is_flag=True,
              help="Build the lexical index alone (find, poem, lexical queries): no model is loaded, no vectors.")
@click.option("--ray", "ray_address", is_flag=False, flag_value="auto", default=None, metavar="[auto|ADDRESS]",
              help="Encode on a Ray cluster (pip install 'poetry-search[ray]'): auto, or the head's address. "
                   "The model must be reachable from every node; the corpus and cache stay on this machine.")
@click.option("--ray-workers", type=click.IntRange(min=1), default=None,
              help="Encoding actors on the Ray cluster (default: one a GPU, else one a node).")
def index(corpus_dir, index_dir, model, precision, device, batch_size, index_type, ef_construction, cache_dir, strict,
          quiet, lexical_only, no_onnx, export_onnx, ray_address, ray_workers):
    """Build the search index of a corpus.

    Every distinct normalised line is encoded once (and cached, so a rebuild or a resumed build
    encodes only what is new), stored in FAISS with its SQLite metadata, and swapped in at INDEX
    only when complete: an interrupted build leaves the old index as it was.

    \b
    Examples:
        poetry-search index                                   # data/sample → index/
        poetry-search index --corpus data/chinese-poetry --index index-full
        poetry-search index --model ./models/bert-base-chinese --precision fp32
        poetry-search index --corpus data/chinese-poetry --index index-full --lexical-only
        poetry-search index --index index-full --export-onnx  # add the fast query encoder
        poetry-search index --corpus data/chinese-poetry --ray ray-head:6379 --model /shared/bert-base-chinese
    """
    if export_onnx:
        from ..build.indexer import add_onnx_export

        if no_onnx:
            raise UsageProblem("--export-onnx and --no-onnx contradict each other: pass one")
        add_onnx_export(index_dir, cache_dir=cache_dir)
        return
    from ..build.indexer import build_index

    report = build_index(corpus_dir, index_dir, model, precision=precision, device=device, batch_size=batch_size,
                         index_type=index_type, cache_dir=cache_dir, strict=strict, progress=not quiet,
                         lexical_only=lexical_only, onnx=not no_onnx, ef_construction=ef_construction,
                         ray=ray_address, ray_workers=ray_workers)
    click.echo(build_report(report, lexical_only), err=True)
