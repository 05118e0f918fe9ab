"""The shapes of the API's answers, as the OpenAPI document declares them: every field typed, so
``/docs`` shows what comes back and Schemathesis checks that it does (``response_model`` of each
route in ``api``). They mirror the library's results (``Hit.to_dict`` …), field for field."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..options import ECHO_ORDERS, FIND_SORTS, MODES, SORTS
from .errors import CODES

Code = Literal[tuple(CODES)]  # type: ignore[valid-type]
Mode = Literal[MODES]  # type: ignore[valid-type]
Sort = Literal[SORTS]  # type: ignore[valid-type]
FindSort = Literal[FIND_SORTS]  # type: ignore[valid-type]
EchoOrder = Literal[ECHO_ORDERS]  # type: ignore[valid-type]
Score = Field(ge=-1.0, le=1.0, description="Cosine similarity to the query (None for lexical hits without vectors).")


class ErrorDetail(BaseModel):
    status: int = Field(description="The HTTP status, repeated.")
    code: Code = Field(description="A stable name for the kind of error (docs/http-api.md lists them).")
    message: str = Field(description="One sentence for people: what is wrong and how to fix it.")


class ErrorBody(BaseModel):
    """Every error answer."""

    error: ErrorDetail


def errors(*statuses: int) -> dict:
    """The ``responses`` of a route: each status with the error model."""
    words = {400: "The request is wrong; the message says how to fix it.", 404: "No such poem, line or page.",
             405: "The route does not take this method (the Allow header lists those it takes).",
             413: "The request body is over the limit.", 503: "No index is loaded yet, or it is damaged."}
    return {s: {"model": ErrorBody, "description": words[s]} for s in statuses}


class Folds(BaseModel):
    query: list[str] = Field(description="The query's characters, folded to simplified script.")
    chars: dict[str, str] = Field(description="Traditional characters of the answer and their simplified forms.")


class LineHit(BaseModel):
    rank: int = Field(ge=1)
    score: float | None = Score
    id: int = Field(ge=0, description="The line's id (texts.id): /api/lines/{id}/echoes.")
    text: str = Field(description="The line as embedded (normalised).")
    original: str = Field(description="The line as the corpus writes it.")
    poem_id: str
    title: str
    author: str
    dynasty: str
    collection: str
    book: str
    context: str = Field(description="The line with its neighbours in the poem.")
    occurrences: int = Field(ge=1, description="Poems holding this line.")
    match: Literal["exact", "contains", "paragraph", "near", "semantic", "tones"] = Field(
        description="How it was found: exact (the line is the query), contains, paragraph (the query runs across "
                    "the punctuation of this line's paragraph), near (another edition's reading: one character "
                    "off, or two swapped), semantic.")
    popularity: float | None = None
    other_poems: int = Field(0, ge=0, description="Other poems that hold the line (occurrences - 1).")
    tones: str | None = Field(None, description="The line's 平水韵 tones: 平, 仄, 中 (either), ？ (unknown), one a character.")
    rhyme: list[str] | None = Field(None, description="The 平水韵 rhyme group(s) of its last character.")
    highlight: list[list[int]] = Field(default_factory=list, description=(
        "[start, end) spans of `original`, in code points (not UTF-16), that the query matched after folding "
        "(script, variants, invisible characters, punctuation)."))


class PoemHit(BaseModel):
    rank: int = Field(ge=1)
    poem_id: str
    title: str
    author: str
    dynasty: str
    collection: str
    book: str
    form: str | None
    score: float | None = Score
    popularity: float | None
    first_line: str
    lines: list[LineHit]


class SearchResult(BaseModel):
    query: str
    k: int
    offset: int
    mode: Mode
    author: str | None
    dynasty: str | None
    collection: str | None
    form: str | None
    sort: Sort
    poems: bool
    hits: list[LineHit | PoemHit]
    suggestions: list[str] = Field(description="With an author that has no poems: the nearest known names.")
    folds: Folds


class FindResult(BaseModel):
    pattern: str | None
    tones: str | None = Field(None, description="The tones pattern asked for (平平仄仄平), if any.")
    rhyme: str | None = Field(None, description="The rhyme group asked for (七阳), if any.")
    rhymes_with: str | None = Field(None, description="The character the lines rhyme with (霜), if any.")
    total: int = Field(ge=0)
    offset: int = Field(ge=0)
    k: int = Field(ge=1)
    hits: list[LineHit | PoemHit]
    suggestions: list[str] = Field(description="With an author that has no poems: the nearest known names.")
    folds: Folds


class PoemLine(BaseModel):
    position: int
    paragraph: int
    original: str
    text: str
    text_id: int = Field(ge=0)
    tones: str | None = Field(None, description="The line's 平水韵 tones: 平, 仄, 中 (either), ？ (unknown), one a character.")
    rhyme: list[str] | None = Field(None, description="The 平水韵 rhyme group(s) of its last character.")


class Poem(BaseModel):
    id: str
    title: str
    author: str
    dynasty: str
    collection: str
    book: str
    form: str | None
    source: str
    position: int
    chapter: str | None
    section: str | None
    tags: list[str]
    popularity: float | None
    paragraphs: list[str]
    lines: list[PoemLine]
    folds: Folds


class Echoes(BaseModel):
    id: int
    k: int
    order: EchoOrder
    hits: list[LineHit]


class Similarity(BaseModel):
    texts: list[str]
    matrix: list[list[float]] = Field(description="Cosines, rounded to 4 places: matrix[i][j] of texts i and j.")


class SimilarityBody(BaseModel):
    """The request of /api/similarity (the route reads it itself, to bound its size first)."""

    texts: list[str] = Field(min_length=2)


class Limits(BaseModel):
    query_chars: int
    k: int
    offset: int
    texts: int
    check_chars: int = Field(description="The most characters of a poem /api/check takes.")
    rhyme_chars: int = Field(description="The largest limit of /api/rhymes/{char}.")


class Info(BaseModel):
    """``Index.info`` without the server's file paths: the manifest's fields, which vary with how
    the index was built, are allowed beside the ones declared."""

    model_config = ConfigDict(extra="allow")

    counts: dict[str, int]
    has_vectors: bool
    facets: dict[str, list[dict[str, str | int]]]
    limits: Limits


# -- reader ----------------------------------------------------------------------------------
# The reader's routes (server/reader.py): a poet, the start page, browsing, 简/繁 conversion.

Script = Literal["orig", "s", "t"]


class PoemRow(BaseModel):
    """A poem in a list (a poet's poems, a dynasty's): what its row on the page shows."""

    poem_id: str
    title: str
    author: str
    dynasty: str
    collection: str
    book: str
    form: str = Field(description="The form or ci-pai ('' when the corpus names none).")
    popularity: float | None
    first_line: str = Field(description="The poem's first paragraph as the corpus writes it.")


class AuthorRecord(BaseModel):
    name: str
    dynasty: str | None
    biography: str
    source: str | None = Field(description="The corpus file of the record.")


class Poet(BaseModel):
    """``Index.poet``: a poet and a page of their poems, most popular first."""

    name: str = Field(description="The corpus's name for the poet.")
    canonical: str = Field(description="The folded name they are compared by.")
    aliases: list[str] = Field(description="Their other corpus names that have poems here.")
    dynasty: str
    biography: str = Field(description="From the corpus's author records; '' when it has none.")
    records: list[AuthorRecord]
    total: int = Field(ge=0, description="Their poems in the index.")
    offset: int = Field(ge=0)
    k: int = Field(ge=1)
    poems: list[PoemRow]


class Browse(BaseModel):
    """The poems of a dynasty or collection, most popular first."""

    dynasty: str | None
    collection: str | None
    total: int = Field(ge=0)
    offset: int = Field(ge=0)
    k: int = Field(ge=1)
    poems: list[PoemRow]


class KnownPoet(BaseModel):
    name: str
    canonical: str
    poems: int = Field(ge=1, description="Their poems in the index.")


class Start(BaseModel):
    """The start page's ways in."""

    poem: Poem | None = Field(description="The day's poem: one of the most popular, another each day (null: empty index).")
    poets: list[KnownPoet] = Field(description="The best-known poets, most read first.")
    lines: list[str] = Field(description="Famous first lines to search for.")


class Converted(BaseModel):
    script: Literal["s", "t"]
    texts: list[str] = Field(description="Each text converted (s: OpenCC t2s, t: OpenCC s2t), in order.")


# -- end of reader -----------------------------------------------------------------------------


# -- prosody -----------------------------------------------------------------------------------
# 平仄 and 韵 (server/api.py): the rhyme book (``Index.rhyme``) and the 格律 check (``Index.check``,
# ``prosody.meter.Verdict.as_dict``), field for field.

Tone = Literal["平", "仄"]


class RhymeChar(BaseModel):
    char: str = Field(description="A character of the group, as the 平水韵 table lists it.")
    lines: int = Field(ge=0, description="Lines of this index's corpus ending in it (0: none).")


class RhymeGroup(BaseModel):
    number: int = Field(ge=1, le=106, description="1-106 in the book's order (上平 1-15, 下平 16-30, 上声, 去声, 入声).")
    name: str = Field(description="As people cite it: 七阳.")
    full_name: str = Field(description="Section and name: 下平七阳.")
    tone: Tone = Field(description="平 for 上平/下平, 仄 for 上声/去声/入声.")
    characters: list[RhymeChar] = Field(description="Its characters, most used first (at most `limit`).")


class RhymeBook(BaseModel):
    """``Index.rhyme``: a character's 平水韵 groups, each with its characters."""

    char: str = Field(description="The character asked for.")
    form: str = Field(description="The form the table lists it under (霜; 爲 is listed as 為).")
    limit: int = Field(ge=1, description="The most characters shown a group.")
    groups: list[RhymeGroup] = Field(description="One for each reading (a character of both tones has two or more).")


Verdicts = Literal["合律", "合律（拗救）", "不合", "非近体"]


class CheckFault(BaseModel):
    line: int = Field(ge=0, description="0-based line.")
    position: int = Field(ge=0, description="0-based character of the line.")
    rule: str = Field(description="孤平, 三平尾, 三仄尾, 失对, 失粘, 出韵 or 平仄不合.")
    detail: str


class CheckNote(BaseModel):
    line: int = Field(ge=0)
    position: int = Field(ge=0)
    kind: str = Field(description="本句自救, 对句相救 (拗救), 邻韵, 三仄尾 (not strict), 特拗首字仄, 异体.")
    detail: str


class CheckReading(BaseModel):
    line: int = Field(ge=0)
    position: int = Field(ge=0)
    char: str
    tone: Tone = Field(description="The reading chosen for a character of both tones (中).")
    groups: list[str] = Field(description="The character's 平水韵 groups.")


class Verdict(BaseModel):
    """``Index.check``: the 格律 verdict of a 五绝, 七绝, 五律 or 七律 (a 不合 is an answer, not an error)."""

    verdict: Verdicts = Field(description="合律, 合律（拗救）, 不合 or 非近体.")
    ok: bool = Field(description="合律, with or without 拗救.")
    lines: list[str] = Field(description="The lines judged (punctuation and notes dropped).")
    form: Literal["五绝", "七绝", "五律", "七律"] | None
    pattern: str | None = Field(description="平起/仄起 and 首句入韵 or not: 仄起首句不入韵.")
    start: Literal["平起", "仄起"] | None
    first_line_rhymes: bool | None
    rhyme: str | None = Field(description="The 平水韵 group of the rhyme: 十一尤.")
    reason: str | None = Field(description="Why 非近体 (null otherwise).")
    tones: list[str] = Field(description="Each line's tones: 平, 仄, 中 (either), one a character.")
    expected: list[str] = Field(description="The pattern each line was held to.")
    marks: list[list[Literal["合", "不合"]]] = Field(description="Each character against its pattern.")
    faults: list[CheckFault]
    notes: list[CheckNote] = Field(description="What is allowed but worth seeing: 拗救, 邻韵 ….")
    readings: list[CheckReading]
    rules: list[str] = Field(description="The rules applied.")


# -- end of prosody ----------------------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok"]
    lines: int = Field(ge=0)
    generation: int
