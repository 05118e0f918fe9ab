"""poetry-search: semantic search over classical Chinese poetry.

    from poetry_search import Index, build_index
    build_index("data/sample", "index", model="bert-base-chinese")
    for hit in Index.open("index").search("大梦谁先觉", k=10):
        print(hit.score, hit.text, hit.title, hit.author)

    from poetry_search import check      # the 格律 of a poem, no index needed
    print(check("白日依山尽，黄河入海流。欲穷千里目，更上一层楼。").verdict)  # 合律

Heavy modules (torch, transformers, faiss) load only when they are used.
"""

__version__ = "0.1.0"
__all__ = ["Index", "Hit", "build_index", "check", "Encoder", "PoetrySearchError"]


def __getattr__(name):
    if name in ("Index", "Hit"):
        from .search import index as search

        return getattr(search, name)
    if name == "build_index":
        from .build.indexer import build_index

        return build_index
    if name == "check":
        from .search.prosody import check

        return check
    if name == "Encoder":
        from .encode.encoder import Encoder

        return Encoder
    if name == "PoetrySearchError":
        from .errors import PoetrySearchError

        return PoetrySearchError
    raise AttributeError(name)
