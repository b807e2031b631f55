# make demo          learners: installs only what the demo needs (.[train]) into .venv, runs it
# make demo TORCH=cpu   the same with PyTorch's CPU-only build (a much smaller download)
# make test          contributors: the full install (.[dev]), lint, the test suite; every master
#                    notebook runs once, graded as its own solutions (quick mode, offline)
# make test-slow     the hidden tests on 17 more drawn seeds each (marker `slow`)
# make course        regenerate the student notebooks from the masters
# make release-check build the wheel, install it in a fresh venv, run info, demo, lessons 01/03
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TRAIN_STAMP := $(VENV)/.installed-train
# TORCH=cpu takes torch and torchvision from PyTorch's CPU index (no CUDA libraries)
TORCH  ?= default
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: demo test test-slow course lint release-check clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# the contributors' install: everything (tests, notebooks, grading, build)
$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP) $(TRAIN_STAMP)

# the learners' install: the library and training only
$(TRAIN_STAMP): pyproject.toml | $(VENV)/bin/python
ifeq ($(TORCH),cpu)
	$(PY) -m pip install --quiet torch torchvision --index-url $(TORCH_CPU_INDEX)
endif
	$(PY) -m pip install --quiet -e ".[train]"
	touch $(TRAIN_STAMP)

demo: $(TRAIN_STAMP)
	$(VENV)/bin/peprkit demo

lint: $(STAMP)
	$(PY) -m ruff check peprkit tests benchmarks tools conftest.py

# test files are spread over 2 workers (one file stays on one worker: its fixtures are shared)
WORKERS ?= 2

test: lint
	HF_HUB_OFFLINE=1 $(PY) -m pytest -n $(WORKERS) --dist loadfile tests peprkit

test-slow: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -n $(WORKERS) --dist loadfile -m slow tests

course: $(STAMP)
	$(VENV)/bin/peprkit course build

release-check: $(STAMP)
	$(PY) tools/release_check.py $(if $(filter cpu,$(TORCH)),--torch-index $(TORCH_CPU_INDEX))

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist
