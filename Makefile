# Two commands do everything: `make demo` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint unit functional integration sam docs model model-large mutants wheel actionlint compat bench bench-quick clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	# Django 4.2 beside the venv's newer one, for the test of its STATICFILES_STORAGE setting.
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --target $(VENV)/django42 'Django>=4.2,<4.3'
	touch $@

# The CDK construct's test (tests/functional/test_cdk.py) needs aws-cdk-lib (about 430 MB): only `make test`
# installs it, so `make demo` stays small.
$(VENV)/.cdk: $(VENV)/.installed
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,cdk]'
	touch $@

demo: $(VENV)/.installed
	$(PY) -m devtools.demo

# About 5 minutes on a quiet 2-core machine: the checks, then every test on three workers (the
# integration tests wait on SeaweedFS more than they compute, so three keep two cores busy).
test: lint sam docs model $(VENV)/.cdk
	$(PY) -m pytest -n 3

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/cfn-lint template.yaml

unit: $(VENV)/.installed
	$(PY) -m pytest -m unit

functional: $(VENV)/.installed
	$(PY) -m pytest -m functional

integration: $(VENV)/.installed
	$(PY) -m pytest -m integration

# sam validate --lint and sam build, with the SAM CLI in its own venv (.venv-sam).
sam: $(VENV)/.installed
	bash devtools/sam_check.sh

# The documentation site (mkdocs.yml, docs/) built with --strict, MkDocs in its own venv (.venv-docs).
docs:
	bash devtools/docs_check.sh

# The release protocol's model (models/release.pml) and its mutants, with Spin (under a minute);
# model-large: larger bounds (minutes).
model:
	bash models/check.sh

model-large:
	bash models/check.sh --large

# The wheel and sdist built, twine-checked, and the five-minute try in a fresh venv holding only it.
wheel: $(VENV)/.installed
	bash devtools/wheel_check.sh

# The GitHub Action's example workflow (and action.yml's inputs) through actionlint.
actionlint: $(VENV)/.installed
	bash devtools/actionlint_check.sh

# Code mutants of the release protocol's checks: each must be caught by the SeaweedFS tests (about a minute).
mutants: $(VENV)/.installed
	$(PY) -m devtools.protocol_mutants

# The benchmark (benchmarks/README.md): its own venv, SeaweedFS behind a 20 ms proxy, every peer.
bench: $(VENV)/.installed
	$(PY) -m benchmarks.run

bench-quick: $(VENV)/.installed
	$(PY) -m benchmarks.run --quick

# The unit tests on every supported Python (3.11 is .venv's); not part of `make test`, to keep CI short.
compat:
	set -e; for v in 3.12 3.13; do \
	  py=$$(ls -d "$$(pyenv root)"/versions/$$v*/bin 2>/dev/null | tail -1)/python$$v; \
	  [ -x "$$py" ] || py=$$(command -v python$$v); \
	  $$py -m venv .venv-$$v && .venv-$$v/bin/pip install --quiet -e '.[dev]' && \
	  .venv-$$v/bin/python -m pytest -q -m "not integration"; \
	done

clean:
	rm -rf $(VENV) .venv-sam .venv-docs .venv-lint .venv-3.12 .venv-3.13 .aws-sam .mypy_cache .ruff_cache .pytest_cache .hypothesis
