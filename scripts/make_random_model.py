"""Build a random-weight BERT locally (no network), for tests and benchmarks.

    python scripts/make_random_model.py models/random-base base   # bert-base-chinese's exact shape
    python scripts/make_random_model.py models/random-tiny tiny   # 2 layers, hidden 32

Speed does not depend on weight values, so the base shape times like bert-base-chinese; its scores
mean nothing. See tests/random_models.py.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # test harnesses live there, not in the package
from random_models import make_random_bert  # noqa: E402

if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print(make_random_bert(sys.argv[1], *(sys.argv[2:3] or ["base"])))
