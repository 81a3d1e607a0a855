# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bench clean browser

$(VENV)/.runtime: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

## Set up, then serve on http://127.0.0.1:8000 with the embedded SQLite database (local credentials).
run: $(VENV)/.runtime
	BULK_ENV=$${BULK_ENV:-development} $(BIN)/gunicorn --config gunicorn.conf.py

## Debian's Chromium and its WebDriver, for the dashboard's browser tests (installed only when missing).
browser:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || \
	  { apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver; }

## Set up, then check style and types and run the whole test suite.
test: $(VENV)/.dev browser
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

## Print the benchmark figures (not part of the tests). The HTTP figures use wrk (Debian package).
bench: $(VENV)/.dev
	command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
	$(BIN)/python bench/storage.py
	$(BIN)/python bench/http_submit.py
	$(BIN)/python bench/settings_ab.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/store_drain.py
	$(BIN)/python bench/forward.py
	$(BIN)/python bench/operations_overhead.py --http-seconds 8
	$(BIN)/python bench/webhooks.py
	$(BIN)/python bench/oauth_submit.py
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/sign_in.py

clean:
	rm -rf $(VENV) .pytest_cache
