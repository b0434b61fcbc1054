# Two commands a newcomer needs:  `make demo`  and  `make test`  (`make test-fast` while editing).
# Both create .venv on first use; torch is pinned to the CPU wheel (a bare `torch` pulls GBs of CUDA).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast quick lint clean browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "torch==2.13.0" || $(BIN)/python -m pip install --quiet "torch>=2.2,<2.15"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=$${HF_HUB_OFFLINE:-1} $(BIN)/indexer demo --index index-demo

# The browser tests drive Debian's chromium through its chromedriver, with a Japanese font so that a failure
# screenshot shows text, not boxes; installed here when missing and root, else the command to run is printed.
BROWSER_PACKAGES := chromium chromium-driver fonts-ipafont-gothic
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ] || ! fc-list :lang=ja 2>/dev/null | grep -q .; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	        apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	            $(BROWSER_PACKAGES); \
	    else echo "The browser tests need Debian's chromium, chromium-driver and a Japanese font: sudo apt-get install $(BROWSER_PACKAGES)"; fi; \
	fi

# Every test, as CI runs them (no marker filter).
test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

# The edit-test loop: leaves out the tests marked slow, browser or soak (pytest reports how many it deselected).
# Not a substitute for `make test`, which runs them all.
FAST := not slow and not browser and not soak
test-fast: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -m "$(FAST)"
	@echo "make test-fast left out the tests marked slow, browser and soak: run make test before pushing"

quick: test-fast

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf index-demo .pytest_cache
