# Two commands a newcomer needs: `make serve` and `make test`. Everything installs into .venv/ (CPU-only).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 3000

.PHONY: install browser test serve lint bench docs clean

install: $(STAMP)

# torch first, pinned, so pip takes the CPU wheel on this disk instead of resolving a CUDA build.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[train,dev,ray]'
	$(BIN)/python -m pcan_serve.pose.install
	@touch $(STAMP)

# The demo page test drives Debian's chromium (Playwright cannot download its own browser here). Installed when
# missing and we are root (CI); otherwise that test skips and says why.
CHROMIUM := /usr/bin/chromium
browser:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else echo "make browser: $(CHROMIUM) is missing and this is not root: the demo page test will skip" >&2; fi

# pytest exit 5 (no tests collected) is a failure, not a pass.
test: install browser
	@$(BIN)/python -m pytest -q tests; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

serve: install
	$(BIN)/pcan serve --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

docs: install
	$(BIN)/python -m pcan_serve.runtime.schema_docs docs/formats.md

bench: install
	$(BIN)/pcan bench --quick

clean:
	rm -rf $(VENV) build *.egg-info
