# make demo          learners: installs only what the demo needs (.[train]) into .venv, runs it
# make demo TORCH=cpu   the same with PyTorch's CPU-only build (a much smaller download)
# make test          contributors: the full install (.[dev]), lint, the test suite, and every
#                    master notebook run cell by cell under nbval (quick mode, offline)
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

.PHONY: demo test course lint release-check clean

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

test: lint
	HF_HUB_OFFLINE=1 $(PY) -m pytest --nbval-lax tests peprkit notebooks/source

course: $(STAMP)
	$(VENV)/bin/peprkit course build

release-check: $(STAMP)
	$(PY) tools/release_check.py $(if $(filter cpu,$(TORCH)),--torch-index $(TORCH_CPU_INDEX))

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist
