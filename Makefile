# make demo | make test | make course — each creates .venv when missing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test course lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/peprkit demo

test: $(STAMP)
	$(PY) -m ruff check peprkit tests benchmarks
	$(PY) -m pytest

course: $(STAMP)
	$(PY) -m peprkit.authoring build

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
