# Two commands from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast chaos lint bench clean-demo venv docs screenshots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	# pyas2lib pins oscrypto 1.3.0, which cannot parse OpenSSL 3's version; elements-oscrypto
	# (same module, upstream's fix) must be the copy on disk, whatever order pip installed them
	$(BIN)/pip install --quiet --no-deps --force-reinstall elements-oscrypto
	touch $(STAMP)

venv: $(STAMP)

## demo: install, drop the sample partner files into inbox/, run one nightly batch, explain
demo: $(STAMP)
	$(BIN)/python scripts/demo.py

## test: the whole suite (SFTP tests need OpenSSH's sshd; .ci/run installs it)
test: $(STAMP)
	$(BIN)/pytest -q

## screenshots: the console pictures the README shows (docs/console-*.png), from a real browser
screenshots: $(STAMP)
	TRADELANE_SCREENSHOTS=$(CURDIR)/docs $(BIN)/pytest -q \
	  tests/web/test_console_layout.py::test_screenshots_for_the_readme \
	  tests/web/test_console_ops_browser.py::test_an_operator_fixes_a_row_in_the_browser

## test-fast: the edit loop: everything but the tests marked slow (the 20,000-file run, ...)
test-fast: $(STAMP)
	$(BIN)/pytest -q -m "not slow"

## chaos: the long crash campaign: 2,000 SIGKILLs over mixed batches, then its summary table
chaos: $(STAMP)
	PYTHONPATH=tests $(BIN)/python -m chaos.campaign --kills $${CHAOS_KILLS:-2000} $${CHAOS_SEED:+--seed $$CHAOS_SEED}

## docs: docs/reference.md, generated from the option declarations in src/tradelane/spec/
docs: $(STAMP)
	$(BIN)/tradelane spec --markdown > docs/reference.md

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts

## bench: every benchmark, each printing its ratio against a same-run baseline
bench: $(STAMP)
	for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean-demo:
	rm -rf .tradelane
	find inbox outbox archive quarantine -mindepth 1 ! -name .gitkeep -exec rm -rf {} +
