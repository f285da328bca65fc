# Two entry points (see README): `make demo` and `make test`. Everything else is a helper.
VENV ?= .venv
PY := $(VENV)/bin/python
HOST_PY ?= python3

.PHONY: demo test lint bench install install-dev chromium docs docs-serve reference

$(VENV)/.installed: requirements.txt constraints.txt pyproject.toml
	test -x $(PY) || $(HOST_PY) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt -c constraints.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .  # the `workbench` command; any process imports core
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## demo: install, build the demo artifacts from the embedded corpus, start the app
demo: install
	$(PY) -m train.demo
	@echo "open http://localhost:8501"
	$(VENV)/bin/streamlit run app.py

## test: install, lint, run the whole suite (the browser test needs Debian's chromium)
test: install-dev chromium
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -q

chromium:
	@test -x /usr/bin/chromium || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || echo "chromium not installed: the browser test will be skipped"; }

lint: install-dev
	$(VENV)/bin/ruff check .

## docs: build the documentation site into site/ (strict: any warning fails; stale reference pages fail first)
docs: install-dev
	$(PY) scripts/gen_reference.py --check
	$(PY) -m mkdocs build --strict --site-dir site

## docs-serve: live-reloading preview of the docs at http://127.0.0.1:8000
docs-serve: install-dev
	$(PY) -m mkdocs serve

## reference: regenerate docs/reference/{cli,http-api,configs}.md from the parsers, the app and the configs
reference: install-dev
	$(PY) scripts/gen_reference.py

bench: install-dev
	$(PY) benchmarks/bench_prepare.py
	$(PY) benchmarks/bench_scale.py
	$(PY) benchmarks/bench_embed.py
	$(PY) benchmarks/bench_training.py
	$(PY) benchmarks/bench_griffinlim.py
	$(PY) -m benchmarks.bench_clap --data artifacts/demo
	$(PY) -m benchmarks.bench_tagger --data artifacts/demo
	$(PY) -m benchmarks.bench_index --sizes 10000,100000
	$(PY) -m benchmarks.bench_service --data artifacts/demo
	$(PY) benchmarks/bench_app.py
