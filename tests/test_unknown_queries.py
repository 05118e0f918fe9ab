"""Queries the model cannot read, full-width ASCII, and scores that float rounding pushes past 1."""

import numpy as np
import pytest
from click.testing import CliRunner

from poetry_search.cli import cli
from poetry_search.encode.vocab import refuse_unknown, unknown_characters, unknown_only
from poetry_search.errors import UsageProblem
from poetry_search.store.vectors import clip_scores

UNK = 100


def test_unknown_only_looks_at_content_tokens():
    # [CLS] x y [SEP] with empty offsets for the specials, as tokenizers report them
    assert unknown_only([101, UNK, UNK, 102], [(0, 0), (0, 1), (1, 2), (0, 0)], UNK)
    assert not unknown_only([101, UNK, 7, 102], [(0, 0), (0, 1), (1, 2), (0, 0)], UNK)
    assert not unknown_only([101, 102], [(0, 0), (0, 0)], UNK)  # nothing at all is not "unknown"
    assert unknown_characters("😀a😀", [UNK, 5, UNK], [(0, 1), (1, 2), (2, 3)], UNK) == ["😀"]
    assert unknown_characters("😀🌙", [UNK], [(0, 2)], UNK) == ["😀", "🌙"]


def test_refuse_unknown_names_the_characters():
    with pytest.raises(UsageProblem, match="unknown to its vocabulary: 😀 🌙"):
        refuse_unknown(["春", "😀🌙"], [[7], [UNK, UNK]], [[(0, 1)], [(0, 1), (1, 2)]], UNK)
    refuse_unknown(["春😀"], [[7, UNK]], [[(0, 1), (1, 2)]], UNK)  # one known character is enough


@pytest.mark.parametrize("query", ["😀", "😀🌙", "😀 😀"])
def test_emoji_query_is_refused_naming_it(sample_index, query):
    r = CliRunner().invoke(cli, ["query", query, "--index", str(sample_index)])
    assert r.exit_code == 2, r.output
    error = [line for line in r.output.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and "Traceback" not in r.output
    assert "does not know" in error[0] and f"vocabulary: {' '.join(dict.fromkeys(query.replace(' ', '')))})" in error[0]


def test_emoji_query_refused_in_python(opened):
    with pytest.raises(UsageProblem, match="😀"):
        opened.search("😀", k=3)
    assert len(opened.search("明月😀", k=3)) == 3  # a known character: searched as before


def test_full_width_query_finds_what_ascii_finds(opened):
    full = opened.search("春ａ眠１", k=5)
    ascii_ = opened.search("春a眠1", k=5)
    assert len(full) == len(ascii_) == 5
    assert [(h.id, h.score) for h in full] == [(h.id, h.score) for h in ascii_]


def test_scores_are_clipped_to_one(opened):
    hits = opened.search("春眠不觉晓", k=3)
    assert len(hits) == 3 and all(-1.0 <= h.score <= 1.0 for h in hits)
    s, i = clip_scores(np.array([[1.0000001, 0.5, -3.4e38]], np.float32), np.array([[3, 4, -1]]))
    assert s[0, 0] == 1.0 and s[0, 1] == np.float32(0.5) and s[0, 2] == np.float32(-3.4e38)
    m = opened.similarity(["春眠不觉晓", "春眠不觉晓", "大梦谁先觉"])
    assert m.shape == (3, 3) and m.max() <= 1.0 and m.min() >= -1.0
