"""Everything the commands print, as text: tables, hits, poems, reports, JSON.

Pure functions from library results to strings; the commands echo them. Widths count East Asian
wide characters as two columns so that tables of Chinese line up in a terminal.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence

CONTEXT_WIDTH = 72  # columns of the context line printed under each hit


def text_width(s: str) -> int:
    """Terminal columns of ``s``: wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def clip(s: str, width: int) -> str:
    """``s`` cut to ``width`` columns, with … where something was cut."""
    out, w = "", 0
    for c in s:
        cw = 2 if unicodedata.east_asian_width(c) in "WF" else 1
        if w + cw > width - 1 and text_width(s) > width:
            return out + "…"
        out, w = out + c, w + cw
    return out


def pad(s: str, width: int) -> str:
    """``s`` clipped and padded with spaces to exactly ``width`` columns."""
    s = clip(s, width)
    return s + " " * max(0, width - text_width(s))


def format_table(headers: list[str], rows: list[list[str]], widths: list[int] | None = None) -> str:
    """A table: the headers, a rule, then one line a row, columns two spaces apart."""
    widths = widths or [max([text_width(h)] + [text_width(r[i]) for r in rows]) for i, h in enumerate(headers)]
    lines = ["  ".join(pad(h, w) for h, w in zip(headers, widths)).rstrip(),
             "  ".join("─" * w for w in widths)]
    lines += ["  ".join(pad(c, w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def dump(obj) -> str:
    """One line of JSON, Chinese kept as is."""
    return json.dumps(obj, ensure_ascii=False)


def key_values(rows: Sequence[tuple[str, str]]) -> str:
    """``key  value`` lines with the keys padded to one width."""
    width = max(text_width(k) for k, _ in rows)
    return "\n".join(f"{pad(key, width)}  {value}" for key, value in rows)


def score(s: float | None) -> str:
    return "—" if s is None else f"{s:.4f}"


def rhyme_label(groups: list[str] | None) -> str:
    """A line's 平水韵 group(s) as a cell: 七阳, 十四寒/十五翰, — when unknown."""
    return "/".join(groups) if groups else "—"


def hits_table(hits, poems: bool, prosody: bool = False) -> str:
    """The table of line hits, or of poems with their matching lines under each; ``prosody``:
    with each line's 平水韵 tones and rhyme group (after a search by them)."""
    if poems:
        rows = [[str(p.rank), score(p.score), p.title, p.author or "—", p.dynasty, p.form or "", p.poem_id] for p in hits]
        head, rule, *body = format_table(["#", "score", "title", "author", "dynasty", "form", "poem id"], rows).splitlines()
        out = [head, rule]
        for line, p in zip(body, hits):
            out.append(line)
            if prosody:
                out += [f"   ↳ [{h.match}] {h.tones or '—'}  {rhyme_label(h.rhyme)}  {clip(h.original, CONTEXT_WIDTH)}"
                        for h in p.lines]
            else:
                out += [f"   ↳ [{h.match}] {clip(h.context or h.original, CONTEXT_WIDTH)}" for h in p.lines]
            if not p.lines and p.first_line:
                out.append(f"   ↳ {clip(p.first_line, CONTEXT_WIDTH)}")
        return "\n".join(out)
    headers = ["#", "score", "match", "line", "title", "author", "dynasty", "book"]
    rows = [[str(h.rank), score(h.score), h.match, h.original, h.title, h.author or "—", h.dynasty, h.book] for h in hits]
    if prosody:  # the tones under the line they describe, then the rhyme
        headers[4:4] = ["tones", "rhyme"]
        for r, h in zip(rows, hits):
            r[4:4] = [h.tones or "—", rhyme_label(h.rhyme)]
    head, rule, *body = format_table(headers, rows).splitlines()
    out = [head, rule]
    for line, h in zip(body, hits):
        out.append(line)
        out.append(f"   ↳ {clip(h.context, CONTEXT_WIDTH)}" + (f"   (in {h.occurrences} poems)" if h.occurrences > 1 else ""))
    return "\n".join(out)


def query_json(query: str, mode: str, hits) -> str:
    return dump({"query": query, "mode": mode, "hits": [h.to_dict() for h in hits]})


def query_text(query: str, hits, poems: bool) -> str:
    """One query's block: the query, its hits (or ``(no hits)``), a blank line."""
    if not hits:
        return f"{query}\n  (no hits)\n"
    return f"{query}\n{hits_table(hits, poems)}\n"


def find_text(pattern: str | None, title: str | None, author: str | None, result, grouped: bool,
              prosody: bool = False) -> str:
    """The count line of a find, then its hits (``prosody``: with their tones and rhyme)."""
    what = ("poem" if grouped else "line") + ("" if result.total == 1 else "s")
    shown = f"{result.offset + 1}-{result.offset + len(result.hits)}" if result.hits else "none"
    head = f"{pattern or title or author}: {result.total:,} {what} (showing {shown})"
    return head + ("\n" + hits_table(result.hits, grouped, prosody) if result.hits else "")


def poem_text(p: dict) -> str:
    """A whole poem: heading, form and book, the paragraphs, where it comes from."""
    out = [f"{p['title']}  {p['author'] or '佚名'}（{p['dynasty'] or '?'}）"]
    extra = [x for x in (p.get("form"), p.get("book")) if x]
    if extra:
        out.append(" · ".join(extra))
    out.append("")
    out += p["paragraphs"]
    out.append("")
    pop = f", popularity {p['popularity']:.2f}" if p.get("popularity") is not None else ""
    out.append(f"source: {p['source']} #{p['position']} (id {p['id']}{pop})")
    return "\n".join(out)


def similarity_json(texts: Sequence[str], matrix) -> str:
    return dump({"texts": list(texts), "matrix": [[round(float(x), 4) for x in row] for row in matrix]})


def similarity_table(texts: Sequence[str], matrix) -> str:
    rows = [[t] + [f"{x:.2f}" for x in row] for t, row in zip(texts, matrix)]
    return format_table([""] + [str(i + 1) for i in range(len(texts))], [[f"{i + 1} {r[0]}"] + r[1:] for i, r in enumerate(rows)])


def corpus_table(stats: dict) -> str:
    counts = ("poems", "lines", "distinct_lines")
    rows = [[name, *(f"{s[c]:,}" for c in counts)] for name, s in stats["collections"].items()]
    rows.append(["total", *(f"{stats[c]:,}" for c in counts)])
    return format_table(["collection", "poems", "lines", "distinct lines"], rows)


def build_report(report, lexical_only: bool) -> str:
    """The line a finished build prints."""
    done = f"indexed {report.texts:,} distinct lines ({report.lines:,} lines, {report.poems:,} poems) into {report.index} "
    if lexical_only:
        return (done + f"in {report.seconds:.1f}s, lexical only: vectors were NOT built. `find`, `poem` and `query --mode lexical` "
                "work; for search by meaning rebuild without --lexical-only (with --model).")
    m = report.manifest
    extra = f", recall@10 {m['recall_at_10']:.3f} at {m['search_depth']}" if "recall_at_10" in m else ""
    return (done + f"in {report.seconds:.1f}s: {report.encoded:,} encoded, {report.from_cache:,} from cache; "
            f"{m['index_type']} index, precision {m['precision']}{extra}")


def info_text(data: dict) -> str:
    """How an index was made, one ``key  value`` line each."""
    c = data["counts"]
    built = ("built", f"{data.get('created_at')} by poetry-search {data.get('poetry_search_version')} in {data.get('build_seconds')}s")
    pro = data.get("prosody") or {}
    tones = ("tones and rhymes", f"{pro.get('scheme')}: the table covers {100 * pro['coverage']:.3f}% of the corpus's "
             f"{pro['characters']:,} characters by occurrence ({pro['distinct_missing']:,} distinct characters missing"
             + (", most often " + "、".join(f"{ch} {n:,}" for ch, n in pro["missing"][:5]) if pro.get("missing") else "") + ")"
             if pro.get("coverage") is not None else "none: built before tones and rhymes (rebuild to add them)")
    corpus = ("corpus", f"{data.get('corpus')} (fingerprint {data.get('corpus_fingerprint')})")
    if data.get("lexical_only"):
        return key_values([("index", data["index"]), ("database", data["database"]),
                           ("model", "none: built with --lexical-only (find, poem, query --mode lexical)"), corpus,
                           ("counts", f"{c['poems']:,} poems, {c['lines']:,} lines, {c['texts']:,} distinct lines"), tones, built])
    rows = [
        ("index", data["index"]), ("database", data["database"]), ("vectors", data["vectors"]),
        ("model", f"{data['model']} ({data.get('model_source')}, fingerprint {data.get('model_fingerprint')})"),
        ("pooling", data.get("pooling", "")), ("dimension", str(data.get("dimension"))),
        ("precision", f"{data.get('precision')} on {data.get('device')}"),
        ("max sequence length", str(data.get("max_seq_length"))),
        corpus,
        ("collections", ", ".join(data.get("collections", []))),
        ("counts", f"{c['poems']:,} poems, {c['lines']:,} lines, {c['texts']:,} distinct lines, {c.get('authors', 0):,} authors"),
        ("index type", f"{data.get('index_type')} ({data.get('faiss_factory')})"),
        ("query encoder", f"ONNX Runtime ({data['onnx']['file']}, min cosine to torch {data['onnx']['checked']['min_cosine']})"
         if data.get("onnx") else f"torch (add the faster one: poetry-search index --index {data['index']} --export-onnx)"),
    ]
    if "recall_at_10" in data:
        rows.append(("recall@10", f"{data['recall_at_10']:.4f} measured on {data.get('recall_sample')} corpus lines at {data.get('search_depth')}"))
    rows += [tones, built]
    return key_values(rows)


def export_report(result: dict) -> str:
    """What an export wrote and how exact its neighbours are."""
    out = [f"wrote {result['rows']:,} rows for {result['queries']:,} queries to {result['out']} ({result['format']})"]
    q = result["quality"]
    if q and q["recall_sample"]:
        how = q["method"] + (f", probe {q['probe']} of {q['clusters']:,} clusters" if q.get("probe") else "")
        out.append(f"recall@{q['k']} against exact search on {q['recall_sample']} of these queries: "
                   f"{q['recall_at_k']:.4f} ({how}; the check took {q['check_seconds']:.0f} s)")
    elif q:
        out.append(f"every neighbour is exact ({q['method']})")
    return "\n".join(out)


def eval_text(report) -> str:
    """The eval report: its heading, the table of metrics, one line a task."""
    def fmt(v):
        return "—" if v is None else f"{v:.4f}"

    rows = [[r["task"], r["metric"], fmt(r["model"]), fmt(r["baseline"]), f"{r['n']:,}"] for r in report.rows()]
    out = [(f"index {report.index}: model {report.model}, {report.index_type}, {report.texts:,} lines; "
            f"seed {report.seed}, up to {report.sample:,} queries a task"),
           format_table(["task", "metric", "model", "baseline (BM25)", "N"], rows)]
    out += [f"{t.task}: {t.n:,} queries of {t.available:,} available, {t.seconds}s" + (f"; {t.note}" if t.note else "")
            for t in report.tasks]
    return "\n".join(out)


# -- 平仄 and 韵 -------------------------------------------------------------------------------

RHYME_COLUMNS = 8  # characters a row of the rhyme book


def rhyme_text(book) -> str:
    """The rhyme book of a character: each group (full name, tone) and its characters, most used
    first, with the count of lines ending in each."""
    from ..prosody.rhymes import group_members

    listed = f" (listed as {book.form})" if book.form and book.form != book.char else ""
    names = "、".join(f"{g.full_name}（{g.tone}声）" for g in book.groups)
    out = [f"{book.char}{listed}: {names}"]
    for g in book.groups:
        size = len(group_members(g.number))
        shown = len(g.characters)
        out += ["", f"{g.full_name}（{g.tone}声）: {size} characters, most used first "
                f"(lines of the corpus ending in each{'' if shown == size else f'; showing {shown}'})"]
        cells = [f"{c} {n:,}" for c, n in g.characters]
        width = max((text_width(c) for c in cells), default=0)
        for s in range(0, len(cells), RHYME_COLUMNS):
            out.append("  " + "  ".join(pad(c, width) for c in cells[s:s + RHYME_COLUMNS]).rstrip())
    return "\n".join(out)


CHECK_MARKS = {"ok": "○", "free": "◐", "rescued": "△", "fault": "✗"}
CHECK_LEGEND = "marks: ○ 合  ◐ the other tone, allowed by 一三五不论  △ 拗, rescued (see the notes)  ✗ 不合 (see the faults)"


def check_marks(v) -> list[list[str]]:
    """One mark a character (``CHECK_MARKS``): its tone as read against the pattern it was held to."""
    from ..prosody.meter import FREE

    chosen = {(r.line, r.position): r.tone for r in v.readings}
    out = []
    for i, (marks, expected, tones) in enumerate(zip(v.marks, v.expected, v.tones)):
        free = FREE.get(len(expected), ())
        row = []
        for p, mark in enumerate(marks):
            tone = chosen.get((i, p), tones[p])
            if mark != "合":
                row.append("fault")
            elif tone == expected[p] or tone == "中":
                row.append("ok")
            else:
                row.append("free" if p in free else "rescued")
        out.append(row)
    return out


def check_text(v) -> str:
    """A 格律 verdict: the form and pattern, each line with its tones, the pattern and a mark a
    character, then the verdict with its faults and notes, the rhyme, the rules applied."""
    from ..prosody.meter import AOJIU
    from ..prosody.rhymes import group

    rhyme = group(v.rhyme).full_name if v.rhyme else None
    head = " · ".join(x for x in (v.form, v.pattern, f"韵 {rhyme}" if rhyme else None) if x)
    out = [head] if head else []
    if v.marks:
        kinds = check_marks(v)
        rows = [[str(i + 1), line, tones, expected, " ".join(CHECK_MARKS[k] for k in row)]
                for i, (line, tones, expected, row) in enumerate(zip(v.lines, v.tones, v.expected, kinds))]
        out.append(format_table(["#", "line", "tones", "pattern", "marks"], rows))
        out.append(CHECK_LEGEND)
    else:
        out.append(format_table(["#", "line", "tones"], [[str(i + 1), s, t] for i, (s, t) in enumerate(zip(v.lines, v.tones))]))
    out.append("")
    named = sorted({n.kind for n in v.notes if n.kind in AOJIU})
    verdict = v.verdict + (f": {'、'.join(named)}" if v.verdict == "合律（拗救）" and named else "")
    out.append(f"verdict: {verdict}" + (f" ({v.reason})" if v.reason else ""))
    if v.faults:
        out.append(format_table(["fault", "line", "char", "rule", "detail"],
                                [[str(n), str(f.line + 1), f"{f.position + 1} {v.lines[f.line][f.position]}", f.rule, f.detail]
                                 for n, f in enumerate(v.faults, 1)]))
    if v.notes:
        out.append(format_table(["note", "line", "char", "kind", "detail"],
                                [[str(n), str(x.line + 1), f"{x.position + 1} {v.lines[x.line][x.position]}", x.kind, x.detail]
                                 for n, x in enumerate(v.notes, 1)]))
    if v.readings:
        out.append("read by position (characters of both tones): " + "; ".join(
            f"{r.char} (line {r.line + 1}, char {r.position + 1}) as {r.tone}" for r in v.readings))
    if rhyme:
        out.append(f"rhyme: {rhyme} ({'first line rhymes' if v.first_line_rhymes else 'first line does not rhyme'})")
    if v.marks:
        out += ["rules applied:"] + [f"  - {r}" for r in v.rules]
    return "\n".join(out)
