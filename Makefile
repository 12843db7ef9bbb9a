# lmforge: `make run` and `make test` set up .venv themselves (Python 3.11 and git are all they need).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# dvc.yaml's stages call `python -m tasks.<step>`: that must be this venv's python.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup run test test-slow repro bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

$(VENV)/.installed-pretrained: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[test,pretrained]'
	touch $@

run: setup
	$(BIN)/lmforge run

test: setup
	$(BIN)/python -m pytest

test-slow: $(VENV)/.installed-pretrained
	LMFORGE_SLOW=1 $(BIN)/python -m pytest tests/slow

repro: setup
	$(BIN)/dvc repro

clean:
	rm -rf data/dataset data/validation data/tokenized data/model data/checkpoints data/registered.json .prefect
