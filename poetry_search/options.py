"""Choices, limits and defaults: the one table that the library, the CLI and the HTTP server read.

No imports, so that ``poetry-search --help`` (whose help texts are built from these) stays cheap.
Each value is checked where it is used by the module that owns the rule; this module only says
what the values are.
"""

# -- where things are --------------------------------------------------------------------------
DEFAULT_INDEX = "index"  # the index folder commands and Index.open use unless told otherwise
DEFAULT_CORPUS = "data/sample"  # the embedded sample: what `index` and `corpus` read unless told otherwise
DEFAULT_MODEL = "bert-base-chinese"

# -- encoding ------------------------------------------------------------------------------------
PRECISIONS = ("auto", "fp32", "bf16")
DEVICES = ("auto", "cpu", "cuda")
ENCODE_BATCH_SIZE = {"cpu": 256, "cuda": 512}  # lines per forward pass, at TOKENS_PER_LINE tokens a line
# A batch holds batch-size lines of TOKENS_PER_LINE tokens; a batch of short lines holds up to
# LINES_PER_PASS times as many.
LINES_PER_PASS = 4
TOKENS_PER_LINE = 16
# New vectors go to the embedding cache in commits of at most this many vectors or seconds of
# encoding: what a killed build can lose. $POETRY_SEARCH_COMMIT_EVERY overrides the count (tests
# that kill a build on the sample set it small); on Ray it also caps the lines of a block.
COMMIT_EVERY = 16_384
COMMIT_SECONDS = 10.0
COMMIT_EVERY_ENV = "POETRY_SEARCH_COMMIT_EVERY"

# -- the vector index ----------------------------------------------------------------------------
INDEX_TYPES = ("auto", "flat", "hnsw", "ivf", "ivf-hnsw")
FLAT_LIMIT = 200_000  # auto: exact (flat) up to this many lines, HNSW above
HNSW_EF_CONSTRUCTION = 256  # the graph's build depth

# -- search --------------------------------------------------------------------------------------
# query --mode: hybrid = lines containing the query verbatim first (exact, then contains), then
# semantic neighbours; semantic = nearest lines by cosine only; lexical = containing lines only.
MODES = ("hybrid", "semantic", "lexical")
SORTS = ("score", "popularity")
FIND_SORTS = ("default", "popularity")
# paragraph: the query runs across the punctuation of the line's paragraph; near: one character off (or two swapped)
MATCHES = ("exact", "contains", "paragraph", "near", "semantic", "tones")  # tones: found by tones or rhyme alone (find --tones)
TONE_PATTERN_MARKS = "平仄中"  # find --tones: 平, 仄, 中 (either), with ? and *
ECHO_ORDERS = ("dynasty", "score")

# -- bulk neighbours and export ------------------------------------------------------------------
EXCLUDES = ("self", "poem", "author", "none")
METHODS = ("auto", "index", "blocked")
BLOCKED_MIN = 100_000  # auto takes the blocked method for approximate indexes of this many lines or more
NEIGHBOURS_BATCH_SIZE = 1024  # queries per FAISS search
FORMATS = {".parquet": "parquet", ".jsonl": "jsonl", ".csv": "csv"}  # export: the extension decides

# -- evaluation ----------------------------------------------------------------------------------
EVAL_TASKS = ("couplets", "variants", "ccpm", "ann", "attribution")
EVAL_DEFAULT_TASKS = ("couplets", "variants", "ann")
EVAL_SAMPLE = 1000

# -- limits of one request, the same at the CLI and over HTTP ------------------------------------
MAX_QUERY_CHARS = 200
MAX_K = 100
MAX_OFFSET = 10_000
MAX_TEXTS = 16  # texts of one similarity request
MAX_FILTER_CHARS = 50
MAX_START_POETS = 50  # best-known poets the start page may list
MAX_POEM_ID_CHARS = 200
MAX_BODY_BYTES = 16 * 1024
MAX_CHECK_CHARS = 400  # a poem given to check (a 七律 is 56 characters and its punctuation)
RHYME_BOOK_CHARS = 40  # characters a group that the rhyme book shows unless told otherwise
MAX_RHYME_BOOK_CHARS = 2000  # the most characters a group that one rhyme-book request may ask for (四支, the largest, has 1,768)

# -- the server ----------------------------------------------------------------------------------
MAX_BATCH = 32  # concurrent searches with the same arguments that share one encoder pass
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
