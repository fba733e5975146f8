# `make repro`: set up .venv and run the pipeline on the demo data set.
# `make test`:  set up .venv and run the test suite.
# Both are idempotent: the environment is rebuilt only when setup.cfg changes.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup browser ffmpeg repro test bench

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	# musicnn 0.1.0 pins numpy<1.17, which cannot be met: its code and weights work without it
	$(BIN)/pip install --quiet --no-deps musicnn==0.1.0
	touch $(STAMP)

setup: $(STAMP)

repro: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" dvc repro

# Debian's chromium renders reports/neighbours.html in the report test
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# the ffmpeg command line is the decode benchmark's baseline
ffmpeg:
	@command -v ffmpeg >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null; }

test: setup browser
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest

bench: setup ffmpeg
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done
