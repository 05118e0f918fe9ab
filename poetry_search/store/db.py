"""The SQLite side of an index: schema (numbered migrations), bulk writes, lookups, the manifest.

Tables (query them with sqlite3 or Datasette; see the README):

* ``poems``: one row a poem, with folded ``title_norm``/``author_norm`` for filtering.
* ``texts``: one row a distinct normalised line; ``texts.id`` **is** the FAISS id.
* ``lines``: every occurrence of a line in a poem, pointing at its ``texts`` row.
* ``authors``: the dataset's authors files (dynasty, bio).
* ``glyphs``: structural descriptions (``{上休下鳥}``) and the characters they stand for.
* ``manifest``: how the index was made, one JSON value a key.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from ..corpus.dynasties import fold_dynasty
from ..errors import IndexChangedError, IndexDamagedError

DB_NAME = "poetry.db"
SCHEMA_VERSION = 1
# Columns of a line's attributed occurrence (texts.cited_line_id) that bulk neighbours can add (export --with-meta).
FIRST_OCCURRENCE_COLUMNS = ("author", "title", "dynasty")
LOOKUP_CHUNK = 500  # ids or texts per ``IN (…)`` lookup: well under SQLite's parameter limit
FETCH_ROWS = 200_000  # rows per fetch when reading a whole column


MIGRATION_SET = "poetry_search"
MIGRATIONS = ("001_initial", "002_lookup_indexes", "003_lexical", "004_attribution", "005_prosody")  # the names _migrations() defines, in order


def _migrations():
    from sqlite_utils import Migrations

    migrations = Migrations(MIGRATION_SET)

    @migrations(name="001_initial")
    def m001(db):
        db["poems"].create({
            "id": str, "collection": str, "book": str, "dynasty": str, "title": str, "title_norm": str,
            "author": str, "author_norm": str, "form": str, "chapter": str, "section": str, "tags": str,
            "paragraphs": str, "source": str, "position": int,
        }, pk="id")
        db["texts"].create({"id": int, "text": str, "first_line_id": int, "occurrences": int}, pk="id")
        db["lines"].create({"id": int, "poem_id": str, "text_id": int, "position": int, "paragraph": int,
                            "original": str}, pk="id")
        db["authors"].create({"id": int, "name": str, "name_norm": str, "dynasty": str, "bio": str,
                              "source": str}, pk="id")
        db["glyphs"].create({"description": str, "char": str}, pk="description")
        db["manifest"].create({"key": str, "value": str}, pk="key")

    @migrations(name="002_lookup_indexes")
    def m002(db):
        # Applied after the bulk load (building an index once is much cheaper than keeping it
        # sorted through 3.7M random inserts). The join and filter columns: filters build FAISS id
        # selectors from these.
        db.execute("CREATE UNIQUE INDEX IF NOT EXISTS texts_text ON texts(text)")
        db.execute("CREATE INDEX IF NOT EXISTS lines_text_id ON lines(text_id)")
        db.execute("CREATE INDEX IF NOT EXISTS lines_poem_id ON lines(poem_id)")
        db.execute("CREATE INDEX IF NOT EXISTS poems_author_norm ON poems(author_norm)")
        db.execute("CREATE INDEX IF NOT EXISTS poems_dynasty ON poems(dynasty)")
        db.execute("CREATE INDEX IF NOT EXISTS poems_collection ON poems(collection)")
        db.execute("CREATE INDEX IF NOT EXISTS poems_book ON poems(book)")
        db.execute("CREATE INDEX IF NOT EXISTS authors_name_norm ON authors(name_norm)")

    @migrations(name="003_lexical")
    def m003(db):
        # Lexical search (lexical.py): per-character positional postings of each field, the
        # field's per-id lengths and per-text popularity as numpy blobs; per-poem popularity
        # (from the dataset's rank/ folder) and folded form (ci-pai, 五言绝句…) as columns.
        db.execute("ALTER TABLE poems ADD COLUMN form_norm TEXT")
        db.execute("ALTER TABLE poems ADD COLUMN popularity REAL")
        db.execute("CREATE TABLE IF NOT EXISTS lexicon (field TEXT NOT NULL, char TEXT NOT NULL, "
                   "count INTEGER NOT NULL, keys BLOB NOT NULL)")
        db.execute("CREATE UNIQUE INDEX IF NOT EXISTS lexicon_field_char ON lexicon(field, char)")
        db.execute("CREATE TABLE IF NOT EXISTS lexicon_fields (field TEXT PRIMARY KEY, shift INTEGER NOT NULL, "
                   "dtype TEXT NOT NULL, size INTEGER NOT NULL, lengths BLOB NOT NULL, popularity BLOB)")
        db.execute("CREATE INDEX IF NOT EXISTS poems_form_norm ON poems(form_norm)")

    @migrations(name="004_attribution")
    def m004(db):
        # Attribution (build/attribution.py): each occurrence's cite rank, each text's attributed
        # occurrence, each poem's canonical author (aliases folded) for filters; the paragraphs
        # of two lines or more (their first line), for matches across punctuation.
        db.execute("ALTER TABLE lines ADD COLUMN cite_rank INTEGER")
        db.execute("ALTER TABLE texts ADD COLUMN cited_line_id INTEGER")
        db.execute("ALTER TABLE poems ADD COLUMN author_canon TEXT")
        db.execute("CREATE TABLE IF NOT EXISTS paragraphs (id INTEGER PRIMARY KEY, line_id INTEGER NOT NULL)")
        db.execute("CREATE INDEX IF NOT EXISTS poems_author_canon ON poems(author_canon)")

    @migrations(name="005_prosody")
    def m005(db):
        # Tones and rhymes (build/prosody.py): each text's 平水韵 tone string and the rhyme
        # group(s) of its last character (names, space-separated), the same as numpy arrays for
        # search/prosody.py, and how many lines end in each rhyme character (the rhyme book).
        db.execute("CREATE TABLE IF NOT EXISTS prosody (text_id INTEGER PRIMARY KEY, tones TEXT NOT NULL, "
                   "rhyme TEXT NOT NULL)")
        db.execute("CREATE TABLE IF NOT EXISTS prosody_arrays (name TEXT PRIMARY KEY, dtype TEXT NOT NULL, "
                   "data BLOB NOT NULL)")
        db.execute("CREATE TABLE IF NOT EXISTS rhyme_chars (char TEXT PRIMARY KEY, lines INTEGER NOT NULL)")

    return migrations


# Indexes made before lexical search existed still open (semantic search works on them); the
# lexical calls then say to rebuild.
_OPTIONAL_MIGRATIONS = {"003_lexical", "005_prosody"}  # before tones and rhymes: find --tones says to rebuild


class Store:
    """One index's SQLite database.

    ``read_only=True`` (how ``Index.open`` reads) opens the file with ``mode=ro`` and gives each
    thread its own connection: one sqlite3 connection is not safe to use from several threads at
    once, and the HTTP server queries from many. Every connection of one Store reads the same file:
    a thread that would open a file swapped in since (a rebuild) gets ``IndexChangedError`` instead
    of a database that disagrees with the vectors already loaded.
    """

    def __init__(self, path: str | Path, create: bool = False, read_only: bool = False):
        self.path = Path(path)
        if not create and not self.path.exists():
            raise IndexDamagedError(f"the database {self.path} is missing: rebuild the index with `poetry-search index`")
        self.read_only = read_only and not create
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._dynasty_names: dict[str, list[str]] | None = None  # folded dynasty -> the forms poems write
        self.identity: tuple[int, int] | None = None
        try:
            conn = self._connect()
            self.db = None  # sqlite_utils, for the migrations of a build only (its import costs ~0.1 s an open)
            if create:
                import sqlite_utils

                self.db = sqlite_utils.Database(conn)
                # A build writes a fresh file nobody else reads until it is swapped in: no journal
                # needed for safety (a crash discards the whole file anyway).
                self.db.execute("PRAGMA journal_mode=OFF")
                self.db.execute("PRAGMA synchronous=OFF")
                _migrations().apply(self.db, stop_before="002_lookup_indexes")
            else:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                pending = set(MIGRATIONS) - self._applied_migrations(conn)
                self.has_lexicon = not pending & {"003_lexical"}
                self.has_prosody = "005_prosody" not in pending
                if pending - _OPTIONAL_MIGRATIONS:
                    raise IndexDamagedError(f"{self.path} was made by another version of poetry-search: rebuild the index")
        except sqlite3.DatabaseError as e:
            raise IndexDamagedError(f"{self.path} is not a readable SQLite database ({e}): rebuild the index with `poetry-search index`") from None
        if create:
            self.has_lexicon = self.has_prosody = True
        self._conn = conn

    @staticmethod
    def _applied_migrations(conn: sqlite3.Connection) -> set[str]:
        """Names of this schema's migrations applied to the file (sqlite_utils' own table)."""
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = '_sqlite_migrations'").fetchone():
            return set()
        return {r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations WHERE migration_set = ?",
                                           (MIGRATION_SET,))}

    def _connect(self) -> sqlite3.Connection:
        if not self.read_only:
            return sqlite3.connect(str(self.path), check_same_thread=False)
        from urllib.parse import quote

        conn = sqlite3.connect(f"file:{quote(str(self.path.resolve()))}?mode=ro", uri=True, check_same_thread=False)
        st = os.stat(self.path)  # after the open: the file this connection holds was at the path then
        ident = (st.st_dev, st.st_ino)
        if self.identity is None:
            self.identity = ident
        elif ident != self.identity:
            conn.close()
            raise IndexChangedError(f"the index database {self.path} was replaced while open: open the index again")
        self._local.conn = conn
        with self._lock:
            self._all.append(conn)
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        """The connection for the calling thread (one shared connection when writing)."""
        if not self.read_only:
            return self._conn
        conn = getattr(self._local, "conn", None)
        return conn if conn is not None else self._connect()

    def changed_on_disk(self) -> bool:
        """True when the file at this Store's path is no longer the one it opened (a rebuild swapped in)."""
        try:
            st = os.stat(self.path)
        except OSError:
            return True
        return self.identity is not None and (st.st_dev, st.st_ino) != self.identity

    # -- writing -------------------------------------------------------------------------------

    def insert_poems(self, rows: Iterable[tuple]) -> None:
        self.conn.executemany(
            "INSERT INTO poems (id, collection, book, dynasty, title, title_norm, author, author_norm, form, chapter, "
            "section, tags, paragraphs, source, position) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)

    def insert_lines(self, rows: Iterable[tuple]) -> None:
        self.conn.executemany(
            "INSERT INTO lines (id, poem_id, text_id, position, paragraph, original) VALUES (?,?,?,?,?,?)", rows)

    def insert_texts(self, rows: Iterable[tuple]) -> None:
        self.conn.executemany("INSERT INTO texts (id, text) VALUES (?, ?)", rows)

    def insert_authors(self, rows: Iterable[tuple]) -> None:
        self.conn.executemany("INSERT INTO authors (name, name_norm, dynasty, bio, source) VALUES (?,?,?,?,?)", rows)

    def insert_glyphs(self, mapping: dict[str, str]) -> None:
        self.conn.executemany("INSERT OR REPLACE INTO glyphs (description, char) VALUES (?, ?)", mapping.items())

    def finish_texts(self) -> None:
        """Once every line is in: build the lookup indexes, then fill texts.first_line_id and
        occurrences (one pass in SQL)."""
        self.conn.commit()
        _migrations().apply(self.db)
        self.conn.execute("""
            UPDATE texts SET first_line_id = agg.first, occurrences = agg.n
            FROM (SELECT text_id, min(id) AS first, count(DISTINCT poem_id) AS n FROM lines GROUP BY text_id) AS agg
            WHERE texts.id = agg.text_id""")

    def set_manifest(self, manifest: dict) -> None:
        self.conn.executemany("INSERT OR REPLACE INTO manifest (key, value) VALUES (?, ?)",
                              [(k, json.dumps(v, ensure_ascii=False)) for k, v in manifest.items()])

    def commit(self) -> None:
        self.conn.commit()

    def close(self) -> None:
        if not self.read_only:
            self._conn.close()
            return
        with self._lock:
            conns, self._all = self._all, []
        for c in conns:
            c.close()

    # -- reading -------------------------------------------------------------------------------

    def manifest(self) -> dict:
        try:
            return {k: json.loads(v) for k, v in self.conn.execute("SELECT key, value FROM manifest")}
        except (sqlite3.DatabaseError, json.JSONDecodeError) as e:
            raise IndexDamagedError(f"the manifest in {self.path} cannot be read ({e}): rebuild the index") from None

    def glyphs(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT description, char FROM glyphs"))

    def count(self, table: str) -> int:
        return self.conn.execute(f"SELECT count(*) FROM [{table}]").fetchone()[0]

    def text_ids(self, author: str | None = None, dynasty: str | None = None, collection: str | None = None,
                 form: str | None = None, distinct: bool = True) -> list[int]:
        """Ids of texts with at least one occurrence matching every given (folded) filter
        (``distinct=False``: once an occurrence, unsorted, which is faster to read)."""
        where, params = self._filters(author, dynasty, collection, form)
        sql = f"SELECT {'DISTINCT ' if distinct else ''}lines.text_id FROM lines JOIN poems ON poems.id = lines.poem_id"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [r[0] for r in self.conn.execute(sql, params)]

    def count_poems(self, author: str | None = None, dynasty: str | None = None, collection: str | None = None,
                    form: str | None = None) -> int:
        """How many poems match every given (folded) filter."""
        where, params = self._filters(author, dynasty, collection, form)
        sql = "SELECT count(*) FROM poems" + (" WHERE " + " AND ".join(where) if where else "")
        return self.conn.execute(sql, params).fetchone()[0]

    def spread_texts(self, n: int) -> list[str]:
        """About ``n`` texts spread evenly over the table (for checks against another computation)."""
        total = self.count("texts")
        step = max(1, total // max(1, n))
        return [r[0] for r in self.conn.execute("SELECT text FROM texts WHERE id % ? = 0 ORDER BY id LIMIT ?", (step, n))]

    def _dynasty_forms(self, dynasty: str) -> list[str]:
        """The dynasties as the poems write them that fold to ``dynasty`` (古文观止 writes 唐代 for 唐)."""
        forms = self._dynasty_names
        if forms is None:
            forms = {}
            for (d,) in self.conn.execute("SELECT DISTINCT dynasty FROM poems WHERE dynasty != ''"):
                forms.setdefault(fold_dynasty(d), []).append(d)
            self._dynasty_names = forms
        return forms.get(dynasty) or [dynasty]

    def _filters(self, author, dynasty, collection, form=None) -> tuple[list[str], list]:
        where, params = [], []
        if author:  # canonical (corpus/authors.py): 李煜 matches 全唐诗's 後主煜
            where.append("poems.author_canon = ?")
            params.append(author)
        if dynasty:
            forms = self._dynasty_forms(dynasty)
            where.append(f"poems.dynasty IN ({','.join('?' * len(forms))})")
            params += forms
        if collection:
            where.append("(poems.collection = ? OR poems.book = ?)")
            params += [collection, collection]
        if form:
            where.append("poems.form_norm = ?")
            params.append(form)
        return where, params

    def hits_metadata(self, ids: Sequence[int], author=None, dynasty=None, collection=None, form=None,
                      poem_rowids=None) -> dict[int, dict]:
        """For each text id: its text and the metadata of its attributed occurrence (under filters:
        the most citable occurrence that passes them, least ``cite_rank``; ``poem_rowids``: in one
        of these poems)."""
        out: dict[int, dict] = {}
        if not ids:
            return out
        filtered = bool(author or dynasty or collection or form) or poem_rowids is not None
        for chunk_start in range(0, len(ids), LOOKUP_CHUNK):
            chunk = list(ids[chunk_start:chunk_start + LOOKUP_CHUNK])
            marks = ",".join("?" * len(chunk))
            if filtered:
                where, params = self._filters(author, dynasty, collection, form)
                if poem_rowids is not None:
                    where.append("poems.rowid IN (SELECT value FROM json_each(?))")
                    params = params + [self._id_list(poem_rowids)]
                first = (f"(SELECT l2.id FROM lines l2 JOIN poems ON poems.id = l2.poem_id "
                         f"WHERE l2.text_id = texts.id AND {' AND '.join(where)} ORDER BY l2.cite_rank LIMIT 1)")
            else:
                first, params = "texts.cited_line_id", []
            sql = f"""
                SELECT texts.id, texts.text, texts.occurrences, lines.original, lines.paragraph, lines.position,
                       p.id, p.title, p.author, p.dynasty, p.collection, p.book, p.paragraphs
                FROM texts JOIN lines ON lines.id = {first} JOIN poems p ON p.id = lines.poem_id
                WHERE texts.id IN ({marks})"""
            for row in self.conn.execute(sql, params + chunk):
                paragraphs = json.loads(row[12])
                out[row[0]] = {
                    "text": row[1], "occurrences": row[2], "original": row[3],
                    "poem_id": row[6], "title": row[7], "author": row[8], "dynasty": row[9],
                    "collection": row[10], "book": row[11],
                    "context": paragraphs[row[4]] if 0 <= row[4] < len(paragraphs) else "",
                    "line_position": row[5],
                }
        return out

    def ids_of_texts(self, texts: Sequence[str]) -> dict[str, int]:
        """``texts.id`` of each of ``texts`` that is a corpus line (normalised); others are absent."""
        out: dict[str, int] = {}
        unique = list(dict.fromkeys(texts))
        for s in range(0, len(unique), LOOKUP_CHUNK):
            chunk = unique[s:s + LOOKUP_CHUNK]
            out.update(self.conn.execute(f"SELECT text, id FROM texts WHERE text IN ({','.join('?' * len(chunk))})", chunk))
        return out

    def line_owners(self) -> Iterator[list[tuple[int, int, str]]]:
        """Every line as (text id, poem rowid, author with aliases folded), ordered by text id, in
        chunks: who a line belongs to, for ``--exclude poem|author`` (後主煜 and 李煜 are one author)."""
        cur = self.conn.execute("SELECT lines.text_id, poems.rowid, coalesce(poems.author_canon, poems.author_norm) FROM lines "
                                "JOIN poems ON poems.id = lines.poem_id ORDER BY lines.text_id")
        while rows := cur.fetchmany(FETCH_ROWS):
            yield rows

    def text_column(self, name: str = "text"):
        """A pyarrow string array indexed by ``texts.id``: ``text``, or one of
        FIRST_OCCURRENCE_COLUMNS of the line's attributed occurrence. Read in id order, in chunks."""
        import pyarrow as pa

        if name == "text":
            sql = "SELECT text FROM texts ORDER BY id"
        elif name in FIRST_OCCURRENCE_COLUMNS:
            sql = (f"SELECT p.{name} FROM texts JOIN lines ON lines.id = texts.cited_line_id "
                   f"JOIN poems p ON p.id = lines.poem_id ORDER BY texts.id")
        else:
            raise ValueError(f"no column {name!r}: use text or one of {', '.join(FIRST_OCCURRENCE_COLUMNS)}")
        cur = self.conn.execute(sql)
        parts = []
        while rows := cur.fetchmany(FETCH_ROWS):
            parts.append(pa.array([r[0] for r in rows], pa.string()))
        arr = pa.concat_arrays(parts) if parts else pa.array([], pa.string())
        n = self.count("texts")
        if len(arr) != n:
            raise IndexDamagedError(f"{self.path}: {len(arr)} rows of {name} for {n} texts: rebuild the index")
        return arr

    # -- browsing (the server's filter menus) -------------------------------------------------

    def facets(self) -> dict:
        """Poem counts per dynasty and per collection/book: the values the filters accept."""
        counts: dict[str, int] = {}
        for d, n in self.conn.execute("SELECT dynasty, count(*) FROM poems WHERE dynasty != '' GROUP BY dynasty"):
            counts[fold_dynasty(d)] = counts.get(fold_dynasty(d), 0) + n  # 唐代 is 唐
        dynasties = sorted(counts.items(), key=lambda x: (-x[1], x[0]))
        books = self.conn.execute(
            "SELECT collection, book, count(*) FROM poems GROUP BY collection, book ORDER BY collection, count(*) DESC").fetchall()
        return {"dynasties": [{"name": d, "poems": n} for d, n in dynasties],
                "collections": [{"collection": c, "book": b, "poems": n} for c, b, n in books]}

    def author_counts(self) -> list[tuple[str, int]]:
        """(folded author, poems) of every author, most poems first: the names suggestions are
        drawn from."""
        return self.conn.execute("SELECT author_norm, count(*) AS n FROM poems WHERE author_norm != '' "
                                 "GROUP BY author_norm ORDER BY n DESC, author_norm").fetchall()

    def has_author(self, author: str) -> bool:
        return self.conn.execute("SELECT 1 FROM poems WHERE author_norm = ? OR author_canon = ? LIMIT 1",
                                 (author, author)).fetchone() is not None

    # -- evaluation (poetry-search eval) ---------------------------------------------------------

    def line_layout(self) -> tuple:
        """(position, paragraph, text_id) of every line as numpy int64 arrays, in ``lines.id`` order:
        poem after poem, each poem's lines in order (a build writes them so), so a poem starts
        where position is 0. One pass over the table in rowid order, no sort."""
        import numpy as np

        n = self.count("lines")
        flat = np.fromiter((v for row in self.conn.execute("SELECT position, paragraph, text_id FROM lines ORDER BY id")
                            for v in row), np.int64, 3 * n)
        flat = flat.reshape(n, 3)
        return flat[:, 0].copy(), flat[:, 1].copy(), flat[:, 2].copy()

    def annotated_lines(self, books: Sequence[str], marker: str) -> list[tuple[int, str]]:
        """Distinct (``texts.id``, original) of lines of the given books whose original contains
        ``marker`` (e.g. 一作, the editors' alternative readings), sorted."""
        marks = ",".join("?" * len(books))
        sql = (f"SELECT DISTINCT l.text_id, l.original FROM lines l JOIN poems p ON p.id = l.poem_id "
               f"WHERE p.book IN ({marks}) AND instr(l.original, ?) > 0 ORDER BY 1, 2")
        return self.conn.execute(sql, [*books, marker]).fetchall()

    # -- lexical search (lexical.py) -----------------------------------------------------------

    def poem_keys(self) -> list[tuple]:
        """(rowid, source, position, author_norm, title_norm, form, tags) of every poem."""
        return self.conn.execute(
            "SELECT rowid, source, position, author_norm, title_norm, form, tags FROM poems ORDER BY rowid").fetchall()

    def set_poem_columns(self, rows: Iterable[tuple]) -> None:
        """(form_norm, popularity, author_canon, rowid) rows."""
        self.conn.executemany("UPDATE poems SET form_norm = ?, popularity = ?, author_canon = ? WHERE rowid = ?", rows)

    def poem_places(self) -> list[tuple[int, str, str]]:
        """(rowid, folded book, folded dynasty) of every poem, by rowid."""
        return self.conn.execute("SELECT rowid, book, dynasty FROM poems ORDER BY rowid").fetchall()

    def line_table(self):
        """(line id, text_id, poem rowid, position, paragraph) of every line as int64 arrays, in
        ``lines.id`` order."""
        import numpy as np

        n = self.count("lines")
        flat = np.fromiter((v for row in self.conn.execute(
            "SELECT lines.id, lines.text_id, poems.rowid, lines.position, lines.paragraph FROM lines "
            "JOIN poems ON poems.id = lines.poem_id ORDER BY lines.id") for v in row), np.int64, 5 * n).reshape(n, 5)
        return tuple(flat[:, j].copy() for j in range(5))

    def line_ranks(self):
        """``lines.cite_rank`` of every line as an int64 array, in ``lines.id`` order."""
        import numpy as np

        n = self.count("lines")
        return np.fromiter((r[0] for r in self.conn.execute("SELECT cite_rank FROM lines ORDER BY id")), np.int64, n)

    def poem_owners(self) -> list[tuple[int, str, str, str]]:
        """(rowid, folded book, canonical author, author as written) of every poem, by rowid."""
        return self.conn.execute("SELECT rowid, book, author_canon, author FROM poems ORDER BY rowid").fetchall()

    def set_attribution(self, cite_ranks: Iterable[tuple[int, int]], cited: Iterable[tuple[int, int]]) -> None:
        """(cite_rank, line id) and (cited line id, text id) rows."""
        self.conn.executemany("UPDATE lines SET cite_rank = ? WHERE id = ?", cite_ranks)
        self.conn.executemany("UPDATE texts SET cited_line_id = ? WHERE id = ?", cited)

    def insert_paragraphs(self, rows: Iterable[tuple[int, int]]) -> None:
        """(paragraph id, its first line's id) rows."""
        self.conn.executemany("INSERT INTO paragraphs (id, line_id) VALUES (?, ?)", rows)

    def paragraph_lines(self, paragraph_ids, author=None, dynasty=None, collection=None, form=None,
                        poem_rowids=None) -> list[tuple[int, int, int]]:
        """(text_id, poem rowid, cite_rank) of the first line of each paragraph ``paragraph_ids``
        whose poem passes the filters, most citable first."""
        where, params = self._filters(author, dynasty, collection, form)
        sql = ("SELECT lines.text_id, poems.rowid, lines.cite_rank FROM json_each(?) AS j "
               "CROSS JOIN paragraphs ON paragraphs.id = j.value JOIN lines ON lines.id = paragraphs.line_id "
               "JOIN poems ON poems.id = lines.poem_id")
        params = [self._id_list(paragraph_ids)] + params
        if poem_rowids is not None:
            where.append("poems.rowid IN (SELECT value FROM json_each(?))")
            params.append(self._id_list(poem_rowids))
        if where:
            sql += " WHERE " + " AND ".join(where)
        return self.conn.execute(sql + " ORDER BY lines.cite_rank, lines.id", params).fetchall()

    def iter_texts(self, batch: int = 200_000) -> Iterable[list[tuple[int, str]]]:
        cur = self.conn.execute("SELECT id, text FROM texts ORDER BY id")
        while rows := cur.fetchmany(batch):
            yield rows

    def text_poem_pairs(self):
        """(text_id, poem rowid) of every line, as two int64 arrays."""
        import numpy as np

        rows = self.conn.execute("SELECT lines.text_id, poems.rowid FROM lines JOIN poems ON poems.id = lines.poem_id").fetchall()
        return (np.fromiter((r[0] for r in rows), np.int64, len(rows)), np.fromiter((r[1] for r in rows), np.int64, len(rows)))

    def max_poem_rowid(self) -> int:
        return self.conn.execute("SELECT coalesce(max(rowid), 0) FROM poems").fetchone()[0]

    def insert_postings(self, field: str, rows: Iterable[tuple[str, int, bytes]]) -> None:
        self.conn.executemany("INSERT INTO lexicon (field, char, count, keys) VALUES (?, ?, ?, ?)",
                              ((field, c, n, keys) for c, n, keys in rows))

    def set_lexicon_field(self, field: str, shift: int, dtype: str, size: int, lengths: bytes,
                          popularity: bytes | None) -> None:
        self.conn.execute("INSERT OR REPLACE INTO lexicon_fields (field, shift, dtype, size, lengths, popularity) "
                          "VALUES (?, ?, ?, ?, ?, ?)", (field, shift, dtype, size, lengths, popularity))

    def lexicon_field(self, field: str) -> tuple | None:
        """(shift, dtype, size, lengths blob, popularity blob) of a field, or None."""
        return self.conn.execute("SELECT shift, dtype, size, lengths, popularity FROM lexicon_fields WHERE field = ?",
                                 (field,)).fetchone()

    def has_lexicon_field(self, field: str) -> bool:
        return self.conn.execute("SELECT 1 FROM lexicon_fields WHERE field = ?", (field,)).fetchone() is not None

    def postings(self, field: str, char: str) -> tuple[int, bytes] | None:
        return self.conn.execute("SELECT count, keys FROM lexicon WHERE field = ? AND char = ?", (field, char)).fetchone()

    def like_scan(self, glob: str | None = None, like: str | None = None) -> list[int]:
        """The plain scan lexical search is measured against (bench/lexical.py)."""
        if glob is not None:
            return [r[0] for r in self.conn.execute("SELECT id FROM texts WHERE text GLOB ?", (glob,))]
        return [r[0] for r in self.conn.execute("SELECT id FROM texts WHERE text LIKE ?", (like,))]

    # -- tones and rhymes (build/prosody.py, search/prosody.py) ---------------------------------

    def line_originals(self, batch: int = FETCH_ROWS) -> Iterator[list[tuple[int, str]]]:
        """(text_id, original) of every line in ``lines.id`` order, in chunks."""
        cur = self.conn.execute("SELECT text_id, original FROM lines ORDER BY id")
        while rows := cur.fetchmany(batch):
            yield rows

    def insert_prosody(self, rows: Iterable[tuple[int, str, str]]) -> None:
        """(text_id, tones, rhyme group names) rows."""
        self.conn.executemany("INSERT INTO prosody (text_id, tones, rhyme) VALUES (?, ?, ?)", rows)

    def set_prosody_array(self, name: str, dtype: str, data: bytes) -> None:
        self.conn.execute("INSERT OR REPLACE INTO prosody_arrays (name, dtype, data) VALUES (?, ?, ?)", (name, dtype, data))

    def prosody_arrays(self) -> dict[str, tuple[str, bytes]]:
        """name -> (numpy dtype string, bytes) of every stored prosody array."""
        return {r[0]: (r[1], r[2]) for r in self.conn.execute("SELECT name, dtype, data FROM prosody_arrays")}

    def insert_rhyme_chars(self, rows: Iterable[tuple[str, int]]) -> None:
        """(character as the table lists it, lines ending in it) rows."""
        self.conn.executemany("INSERT INTO rhyme_chars (char, lines) VALUES (?, ?)", rows)

    def rhyme_char_counts(self, chars: Sequence[str]) -> dict[str, int]:
        """Lines ending in each of ``chars`` (absent: none)."""
        out: dict[str, int] = {}
        unique = list(dict.fromkeys(chars))
        for s in range(0, len(unique), LOOKUP_CHUNK):
            chunk = unique[s:s + LOOKUP_CHUNK]
            out.update(self.conn.execute(f"SELECT char, lines FROM rhyme_chars WHERE char IN ({','.join('?' * len(chunk))})", chunk))
        return out

    def prosody_of(self, ids: Sequence[int]) -> dict[int, tuple[str, str]]:
        """text id -> (tones, rhyme group names space-separated); {} for an index without them."""
        if not self.has_prosody:
            return {}
        out: dict[int, tuple[str, str]] = {}
        for row in self.conn.execute("SELECT text_id, tones, rhyme FROM prosody WHERE text_id IN (SELECT value FROM json_each(?))",
                                     (self._id_list(ids),)):
            out[row[0]] = (row[1], row[2])
        return out

    @staticmethod
    def _id_list(ids) -> str:
        """A set of integer ids as one JSON parameter, read back with json_each: no temporary
        table, so concurrent readers of one connection (a threaded server) cannot mix their sets."""
        return json.dumps([int(i) for i in ids])

    def _occurrences_sql(self, columns: str, ids, author, dynasty, collection, form, poem_rowids) -> tuple[str, list]:
        """SELECT ``columns`` over every occurrence of the texts ``ids`` in a poem matching the
        filters (``poem_rowids``: only these poems)."""
        where, params = self._filters(author, dynasty, collection, form)
        sql = (f"SELECT {columns} FROM json_each(?) AS j "
               "CROSS JOIN lines ON lines.text_id = j.value JOIN poems ON poems.id = lines.poem_id")
        params = [self._id_list(ids)] + params
        if poem_rowids is not None:
            where.append("poems.rowid IN (SELECT value FROM json_each(?))")
            params.append(self._id_list(poem_rowids))
        if where:
            sql += " WHERE " + " AND ".join(where)
        return sql, params

    def filter_texts(self, ids, author=None, dynasty=None, collection=None, form=None, poem_rowids=None) -> list[int]:
        """The texts among ``ids`` with an occurrence in a poem matching every filter
        (``poem_rowids``: only these poems)."""
        sql, params = self._occurrences_sql("DISTINCT lines.text_id", ids, author, dynasty, collection, form, poem_rowids)
        return [r[0] for r in self.conn.execute(sql, params)]

    def text_occurrences(self, ids, author=None, dynasty=None, collection=None, form=None, poem_rowids=None,
                         by_cite: bool = False) -> list[tuple]:
        """(text_id, poem rowid, poem id, line position, cite_rank) of every occurrence of ``ids``
        in a poem matching the filters, in line order (``by_cite``: most citable first)."""
        sql, params = self._occurrences_sql("lines.text_id, poems.rowid, poems.id, lines.position, lines.cite_rank", ids,
                                            author, dynasty, collection, form, poem_rowids)
        return self.conn.execute(sql + (" ORDER BY lines.cite_rank, lines.id" if by_cite else " ORDER BY lines.id"),
                                 params).fetchall()

    def poem_rowids(self, author=None, dynasty=None, collection=None, form=None, within=None) -> list[tuple[int, float | None]]:
        """(rowid, popularity) of the poems matching every filter (``within``: only these rowids)."""
        where, params = self._filters(author, dynasty, collection, form)
        if within is not None:
            where.append("poems.rowid IN (SELECT value FROM json_each(?))")
            params.append(self._id_list(within))
        sql = "SELECT poems.rowid, poems.popularity FROM poems"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return self.conn.execute(sql, params).fetchall()

    def poems_by_rowid(self, rowids: Sequence[int]) -> dict[int, dict]:
        out = {}
        for s in range(0, len(rowids), 500):
            chunk = [int(r) for r in rowids[s:s + 500]]
            for row in self.conn.execute(
                    f"SELECT rowid, id, title, author, dynasty, collection, book, form, form_norm, popularity, paragraphs "
                    f"FROM poems WHERE rowid IN ({','.join('?' * len(chunk))})", chunk):
                paragraphs = json.loads(row[10])
                out[row[0]] = {"poem_id": row[1], "title": row[2], "author": row[3], "dynasty": row[4],
                               "collection": row[5], "book": row[6], "form": row[7] or row[8], "popularity": row[9],
                               "first_line": paragraphs[0] if paragraphs else ""}
        return out

    def poem_rowid(self, poem_id: str) -> int | None:
        row = self.conn.execute("SELECT rowid FROM poems WHERE id = ?", (poem_id,)).fetchone()
        return row[0] if row else None

    def poem(self, poem_id: str) -> dict | None:
        """A poem with every line (in order, each with its ``texts`` id and text), or None."""
        lex = "popularity, form_norm" if self.has_lexicon else "NULL, NULL"
        row = self.conn.execute(
            f"SELECT id, title, author, dynasty, collection, book, form, source, paragraphs, position, chapter, section, "
            f"tags, {lex} FROM poems WHERE id = ?", (poem_id,)).fetchone()
        if row is None:
            return None
        lines = self.conn.execute("SELECT position, paragraph, original, texts.text, text_id FROM lines "
                                  "JOIN texts ON texts.id = lines.text_id WHERE poem_id = ? ORDER BY position", (poem_id,))
        return {"id": row[0], "title": row[1], "author": row[2], "dynasty": row[3], "collection": row[4], "book": row[5],
                "form": row[6] or row[14], "source": row[7], "position": row[9], "chapter": row[10], "section": row[11],
                "tags": json.loads(row[12]) if row[12] else [], "popularity": row[13],
                "paragraphs": json.loads(row[8] or "[]"),
                "lines": [{"position": r[0], "paragraph": r[1], "original": r[2], "text": r[3], "text_id": r[4]} for r in lines]}

    def form_exists(self, form: str) -> bool:
        return self.conn.execute("SELECT 1 FROM poems WHERE form_norm = ? LIMIT 1", (form,)).fetchone() is not None

    def common_forms(self, n: int = 8) -> list[str]:
        return [r[0] for r in self.conn.execute(
            "SELECT form_norm FROM poems WHERE form_norm IS NOT NULL GROUP BY form_norm ORDER BY count(*) DESC LIMIT ?", (n,))]

    # -- poets (search/poets.py) ---------------------------------------------------------------

    def author_records(self, names: Sequence[str]) -> list[tuple]:
        """(name, name_norm, dynasty, bio, source) of the authors records with a folded name in ``names``."""
        marks = ",".join("?" * len(names))
        return self.conn.execute(f"SELECT name, name_norm, dynasty, bio, source FROM authors WHERE name_norm IN ({marks}) "
                                 "ORDER BY id", list(names)).fetchall()

    def poems_of_authors(self, names: Sequence[str], k: int, offset: int = 0) -> tuple[int, list[tuple]]:
        """(total, rows) of the poems whose folded author is in ``names``, most popular first (unranked
        last, then corpus order); rows are (id, title, author, author_norm, dynasty, collection, book,
        form, popularity, paragraphs), ``k`` of them from ``offset``."""
        marks = ",".join("?" * len(names))
        total = self.conn.execute(f"SELECT count(*) FROM poems WHERE author_norm IN ({marks})", list(names)).fetchone()[0]
        form = "coalesce(nullif(form, ''), form_norm)" if self.has_lexicon else "form"
        pop = "popularity" if self.has_lexicon else "NULL"
        rows = self.conn.execute(
            f"SELECT id, title, author, author_norm, dynasty, collection, book, {form}, {pop}, paragraphs FROM poems "
            f"WHERE author_norm IN ({marks}) ORDER BY {pop} IS NULL, {pop} DESC, rowid LIMIT ? OFFSET ?",
            [*names, k, offset]).fetchall()
        return total, rows

    def best_known_authors(self, n: int, books: Sequence[str] = ()) -> list[tuple[str, str, int, int, float]]:
        """(folded author, a corpus name, poems, poems in ``books``, summed popularity) of the ``n``
        authors with the most poems in ``books`` (folded book names), then the highest summed
        popularity, then the most poems."""
        pop = "coalesce(sum(popularity), 0)" if self.has_lexicon else "0"
        marks = ",".join("?" * len(books))
        chosen = f"sum(book IN ({marks}))" if books else "0"
        return self.conn.execute(
            f"SELECT author_norm, min(author), count(*) AS n, {chosen} AS c, {pop} AS p FROM poems WHERE author_norm != '' "
            "AND author_norm NOT IN ('佚名', '无名氏') GROUP BY author_norm ORDER BY c DESC, p DESC, n DESC, author_norm LIMIT ?",
            (*books, n)).fetchall()

    def most_popular_poems(self, n: int, books: Sequence[str] = ()) -> list[str]:
        """Ids of the ``n`` most popular poems (unranked ones after, in corpus order), of ``books``
        (folded book names) when given."""
        marks = ",".join("?" * len(books))
        where = f" WHERE book IN ({marks})" if books else ""
        order = "popularity IS NULL, popularity DESC, rowid" if self.has_lexicon else "rowid"
        return [r[0] for r in self.conn.execute(f"SELECT id FROM poems{where} ORDER BY {order} LIMIT ?", (*books, n))]

    def poems_filtered(self, k: int, offset: int = 0, author=None, dynasty=None, collection=None,
                       form=None) -> tuple[int, list[tuple]]:
        """(total, rows) of the poems matching every (folded) filter, most popular first (unranked
        last, then corpus order); rows as ``poems_of_authors``."""
        where, params = self._filters(author, dynasty, collection, form)
        cond = (" WHERE " + " AND ".join(where)) if where else ""
        total = self.conn.execute(f"SELECT count(*) FROM poems{cond}", params).fetchone()[0]
        form_col = "coalesce(nullif(form, ''), form_norm)" if self.has_lexicon else "form"
        pop = "popularity" if self.has_lexicon else "NULL"
        rows = self.conn.execute(
            f"SELECT id, title, author, author_norm, dynasty, collection, book, {form_col}, {pop}, paragraphs FROM poems"
            f"{cond} ORDER BY {pop} IS NULL, {pop} DESC, rowid LIMIT ? OFFSET ?", [*params, k, offset]).fetchall()
        return total, rows
