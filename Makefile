PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= runs/demo

.PHONY: install test demo bench clean

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

test: install
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -q -ra tests

bench: install
	$(PY) -m benchmarks.inverse

clean:
	rm -rf $(VENV) runs *.egg-info
