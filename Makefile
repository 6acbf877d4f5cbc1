# img2brain — the two commands of the README, and the helpers they use.
#   make demo   creates .venv if needed, generates the small simulated dataset and runs the pipeline on it
#   make test   runs every notebook's tests (nbdev_test), checks the package and notebooks are in sync, runs pytest
SHELL := /bin/bash
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.img2brain-installed
# torch/torchvision: these exact versions come from the local wheel cache on our machines (others download GBs)
TORCH  := torch==2.14.1 torchvision==0.29.1
DEMO   := demo
JOBS   ?= 2

.PHONY: readme venv demo lab lint test test-nbs test-sync test-py docs browser-deps bench clean help

help:
	@echo "make demo   - run img2brain end to end on the small simulated dataset (creates .venv)"
	@echo "make test   - run all tests: export/clean sync, ruff, notebooks (nbdev_test), pytest"
	@echo "make lab    - open the notebooks (nbs/) in JupyterLab"
	@echo "make docs   - build the documentation and report site into _docs/ (quarto if present, else nbconvert)"
	@echo "make readme - regenerate README.md from nbs/index.ipynb"
	@echo "make bench  - run the benchmarks in bench/ (writes bench/results/*.json)"

readme: venv
	$(BIN)/python tools/build_readme.py

$(STAMP): settings.ini setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $(STAMP)

venv: $(STAMP)

demo: venv
	@start=$$(date +%s); set -e; \
	if [ -f $(DEMO)/data/trainingfMRI/training.npy ]; then echo "reusing $(DEMO)/data"; \
	else $(BIN)/img2brain synth $(DEMO)/data --scale small --seed 0 --overwrite; fi; \
	$(BIN)/img2brain info $(DEMO)/data; \
	$(BIN)/img2brain run $(DEMO)/data --out $(DEMO)/out --weights random --cache-dir $(DEMO)/cache; \
	echo; echo "Scoring the test predictions against the held-out simulated responses (never read by training):"; \
	$(BIN)/img2brain score $(DEMO)/out/predictions/test_pred.npy $(DEMO)/data/heldout/test_responses.npy; \
	echo; echo "report: $(DEMO)/out (results.csv, summary.json, figures *.png); the full report is nbs/08_report.ipynb (make docs → _docs/report.html)"; \
	echo "demo finished in $$(( $$(date +%s) - start )) s"

test-sync: venv
	@$(BIN)/nbdev_export && $(BIN)/nbdev_clean
	@if [ -n "$$(git status --porcelain -- img2brain nbs)" ]; then \
	  echo "ERROR: nbdev_export/nbdev_clean changed files: the package or the notebooks are out of sync."; \
	  echo "Edit the notebooks, run nbdev_export and nbdev_clean, and commit the result."; \
	  git status --porcelain -- img2brain nbs; exit 1; fi
	@$(BIN)/python tools/check_notebooks.py
	@$(BIN)/python tools/build_readme.py --check
	@echo "sync: img2brain/ matches nbs/, notebooks are clean"

# pyflakes + pycodestyle errors (pyproject.toml [tool.ruff]); findings in img2brain/ are fixed in the notebooks
lint: venv
	$(BIN)/ruff check img2brain tools bench tests
	@echo "lint: ruff found nothing"

lab: venv
	$(BIN)/jupyter lab --notebook-dir=nbs

test-nbs: venv
	MPLBACKEND=Agg $(BIN)/nbdev_test --n_workers $(JOBS) --timing

test-py: venv browser-deps
	MPLBACKEND=Agg $(BIN)/python -m pytest tests -q -p no:cacheprovider

test: test-sync lint test-nbs test-py

# Debian's headless Chromium + chromedriver for the browser test of the docs site (tests/test_docs.py); no browser downloads
browser-deps:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then exit 0; fi; \
	SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	echo "installing chromium and chromium-driver with apt-get (for the docs browser test)"; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null

# quarto on PATH: nbdev_docs; otherwise nbdev's processors + nbconvert (tools/build_docs.py --help), into _docs/
docs: venv
	MPLBACKEND=Agg $(BIN)/python tools/build_docs.py

bench: venv
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf _docs _proc $(DEMO) build dist *.egg-info
