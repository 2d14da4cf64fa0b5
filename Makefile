# Two entry points on a fresh machine: `make demo` and `make test`.
# Both create .venv, install torch==2.13.0 (the CPU build) first, then the package.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
EMBEDSEARCH := $(BIN)/embedsearch
DEMO_INDEX := glove-6b-50d
DOCS_INDEX := lee-news

.PHONY: demo test install install-test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[server]'
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: install
	$(EMBEDSEARCH) build --vectors glove-6b-50d --out $(DEMO_INDEX) --skip-existing
	$(EMBEDSEARCH) neighbors computer --index $(DEMO_INDEX) -k 10
	$(EMBEDSEARCH) analogy man king woman --index $(DEMO_INDEX) -k 5
	$(EMBEDSEARCH) similarity woman man --index $(DEMO_INDEX)
	$(EMBEDSEARCH) similarity king queen --index $(DEMO_INDEX)
	$(EMBEDSEARCH) similarity uncle aunt --index $(DEMO_INDEX)
	$(EMBEDSEARCH) similarity boy girl --index $(DEMO_INDEX)
	$(EMBEDSEARCH) similarity computer water --index $(DEMO_INDEX)
	$(EMBEDSEARCH) similarity paper knife --index $(DEMO_INDEX)
	$(EMBEDSEARCH) build --corpus "$$($(BIN)/python -c 'from gensim.test.utils import datapath; print(datapath("lee_background.cor"))')" --out $(DOCS_INDEX) --skip-existing
	$(EMBEDSEARCH) neighbors "bushfires threaten homes near Sydney" --index $(DOCS_INDEX) -k 5
	$(EMBEDSEARCH) neighbors "interest rates" --index $(DOCS_INDEX) -k 3 --mode keyword
	@echo "explore it in a browser: $(EMBEDSEARCH) serve $(DEMO_INDEX)   (then open http://127.0.0.1:8000/)"

test: install-test
	$(BIN)/python -m pytest

bench: install
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python scripts/bench_queries.py

clean:
	rm -rf $(VENV) build *.egg-info
