# The README's two commands are `make demo` and `make test`; both start from nothing.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
APT_PACKAGES := postgresql-15 postgresql-contrib-15 postgresql-15-pgtap postgresql-15-plpgsql-check \
                libtap-parser-sourcehandler-pgtap-perl postgresql-15-cron libfaketime

.PHONY: deps demo test bench clean

# System packages: installed only when one is missing (needs root, as on CI and dev machines).
.deps-ok:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@touch $@

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

deps: .deps-ok $(VENV)/.installed

demo: deps
	$(VENV)/bin/pgcanary demo

test: deps
	$(VENV)/bin/pytest -q

bench: deps
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .deps-ok .pytest_cache
