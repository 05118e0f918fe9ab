"""The whole corpus read once (CorpusReader, poem_lines, read_popularity) and kept as a pickle,
for the measuring scripts (make_variants' merges, attribution_eval, near-match timings): reading
the 390k poems takes about two minutes; the pickle loads in seconds.

``load(corpus, cache)`` returns a dict: ``poems`` (one dict a poem in reading order: id,
collection, book and dynasty folded, title, author, form, source, position, tags, paragraphs),
``texts`` (distinct normalised lines in first-seen order), ``line_poem``/``line_pos``/
``line_par``/``line_tid`` (int32 arrays, one entry a line occurrence), ``line_orig``,
``authors`` ((name, dynasty, bio, source)), ``structures``, ``rank_pop`` ({poem index:
popularity from rank/}) and ``rank_stats``.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_CORPUS = Path("/work/main/data/chinese-poetry")
DEFAULT_CACHE = Path("/tmp/attr/corpus.pkl")


def read(corpus: Path, dunhao_splits: bool = True) -> dict:
    """``dunhao_splits=False``: 、 is taken out of each paragraph before it is split, so it no
    longer ends a line (what issue 21 asks of the normaliser), to measure what that changes."""
    import numpy as np

    from poetry_search.build.popularity import read_popularity
    from poetry_search.corpus.normalize import fold
    from poetry_search.corpus.reader import CorpusReader, poem_lines

    reader = CorpusReader(corpus)
    norm = reader.normalizer()
    poems, texts = [], {}
    lp, lpos, lpar, ltid, lorig = [], [], [], [], []
    for i, p in enumerate(reader.poems()):
        poems.append(dict(id=p.id, collection=p.collection, book=fold(p.book), dynasty=fold(p.dynasty), title=p.title,
                          author=p.author, form=p.form, source=p.source, position=p.position, tags=p.tags,
                          paragraphs=p.paragraphs))
        if not dunhao_splits:
            p.paragraphs = [x.replace("、", "") for x in p.paragraphs]
        for ln in poem_lines(p, norm):
            lp.append(i), lpos.append(ln.position), lpar.append(ln.paragraph)
            ltid.append(texts.setdefault(ln.text, len(texts))), lorig.append(ln.original)
    rank = Path(corpus) / "rank"
    keys = ((i, p["source"], p["position"], fold(p["author"]), fold(p["title"])) for i, p in enumerate(poems))
    pop, stats = read_popularity(rank, keys, fold) if rank.is_dir() else ({}, {})
    return dict(poems=poems, texts=list(texts), line_poem=np.array(lp, np.int32), line_pos=np.array(lpos, np.int32),
                line_par=np.array(lpar, np.int32), line_tid=np.array(ltid, np.int32), line_orig=lorig,
                authors=[(a.name, a.dynasty, a.bio, a.source) for a in reader.authors], structures=reader.structures,
                rank_pop=pop, rank_stats=stats)


def load(corpus: Path = DEFAULT_CORPUS, cache: Path = DEFAULT_CACHE, dunhao_splits: bool = True) -> dict:
    cache = Path(cache)
    if not dunhao_splits:
        cache = cache.with_name(cache.stem + "-nodunhao" + cache.suffix)
    if cache.exists():
        with open(cache, "rb") as f:
            return pickle.load(f)
    data = read(Path(corpus), dunhao_splits)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with open(cache, "wb") as f:
        pickle.dump(data, f, protocol=5)
    return data
