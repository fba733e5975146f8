# `make repro`: set up .venv and run the pipeline on the demo data set.
# `make test`:  set up .venv and run the test suite.
# `make check-results`: after `make repro`, compare the run's metrics with the committed ones.
# `make lock`:  re-resolve requirements.lock from setup.cfg to the newest allowed versions
#               (then commit it and re-run `make repro`: results may move).
# Both setup targets are idempotent: .venv is rebuilt when the lock changes. The set-up
# installs exactly the locked versions (hash-checked, no resolution: --no-deps), so every
# machine runs the same libraries; the lock is for CPython 3.11 on Linux x86-64.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements.lock
# musicnn 0.1.0 pins numpy<1.17, which cannot be met: its code and weights work without it,
# so it is locked apart and installed without its dependencies
NODEPS := requirements-nodeps.lock
TOOLS  := .venv-lock

.PHONY: setup lock browser ffmpeg repro check-results test bench

$(STAMP): $(LOCK) $(NODEPS) setup.cfg pyproject.toml
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --no-deps --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps --require-hashes -r $(NODEPS)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

# pip-tools in a venv of its own; lock-constraints.txt holds deliberate holds
lock:
	test -x $(TOOLS)/bin/pip-compile || { $(PYTHON) -m venv $(TOOLS) && $(TOOLS)/bin/pip install --quiet pip-tools==7.6.2; }
	$(TOOLS)/bin/pip-compile --quiet --upgrade --extra test --generate-hashes --strip-extras --allow-unsafe \
	    --no-emit-index-url --no-emit-find-links -c lock-constraints.txt -o $(LOCK) setup.cfg
	rm -rf $(TOOLS)/nodeps && $(TOOLS)/bin/pip download --quiet --no-deps -d $(TOOLS)/nodeps musicnn==0.1.0
	{ echo "# musicnn, installed with --no-deps (written by make lock)"; \
	  for f in $(TOOLS)/nodeps/*; do echo "musicnn==0.1.0 \\"; $(TOOLS)/bin/pip hash $$f | sed -n 's/^--hash=/    --hash=/p'; done; } > $(NODEPS)

repro: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" dvc repro

# after `make repro`: do this run's metrics reproduce the committed ones within their uncertainty?
check-results: setup
	$(BIN)/mvclr check-results

# Debian's chromium renders reports/neighbours.html in the report test
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# the ffmpeg command line is the decode benchmark's baseline
ffmpeg:
	@command -v ffmpeg >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null; }

test: setup browser
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest

# every benchmark at the size its figures in the README were measured at (hours on 2 cores);
# select_aligned.py needs the demo's features: run it after `make repro`
bench: setup ffmpeg
	$(BIN)/python benchmarks/decode.py --size 1280x720
	$(BIN)/python benchmarks/embed.py
	$(BIN)/python benchmarks/train.py
	$(BIN)/python benchmarks/retrieval.py
	$(BIN)/python benchmarks/scaleout.py
	$(BIN)/python benchmarks/scale.py --videos-index 550000
	$(BIN)/python benchmarks/scale.py --segments 250000
	$(BIN)/python benchmarks/scale.py --segments 1000000
