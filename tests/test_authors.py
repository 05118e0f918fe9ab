"""Author aliases (poetry_search/corpus/authors.py) built from the corpus's own records."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from poetry_search.corpus.authors import (  # noqa: E402
    ALIASES_FILE,
    alias_table,
    canonical_author,
    names_of,
)


def test_a_ruler_under_his_title_is_the_poet():
    assert canonical_author("後主煜") == "李煜"
    assert canonical_author("后主煜") == "李煜"
    assert canonical_author("嗣主璟") == canonical_author("李璟") == "李璟"
    assert canonical_author("李煜") == "李煜"


def test_names_fold_and_unknown_names_pass_through():
    assert canonical_author("蘇軾") == "苏轼"
    assert canonical_author("王时彦") == "王时彦"  # 王 is his surname, not a title
    assert canonical_author("") == "" and canonical_author(None) == ""


def test_every_entry_states_its_rule_and_evidence():
    rows = [l.split("\t") for l in ALIASES_FILE.read_text("utf-8").splitlines() if l and not l.startswith("#")]
    assert len(rows) == len(alias_table()) >= 10
    for alias, name, rule, evidence in rows:
        assert rule in {"zi", "title", "xinghui", "title+zi"} and alias != name
        assert name not in alias_table()  # one step reaches the name
        assert evidence


def test_names_of_lists_every_alias():
    got = names_of("李煜")
    assert got == {"李煜", "后主煜"}
    assert len(names_of("李璟")) == 3 and names_of("") == set()
