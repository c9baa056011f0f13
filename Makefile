# `make run` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ORACLE_PACKAGES := prometheus-alertmanager prometheus

.PHONY: run test venv lint typecheck system-packages pytest bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/daemon $(ARGS)

# Installs the oracle (real Alertmanager 0.25 and amtool), Prometheus and iproute2 (network
# namespaces for the partition tests) when run as root.
system-packages:
	@missing=""; \
	command -v prometheus-alertmanager >/dev/null || missing="$$missing prometheus-alertmanager"; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	command -v systemd-analyze >/dev/null || missing="$$missing systemd"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null || missing="$$missing chromium-driver"; \
	command -v ip >/dev/null || missing="$$missing iproute2"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "not root: cannot install$$missing"; fi; \
	fi
	@# The Debian packages start services; the tests start their own instances.
	-@systemctl stop prometheus prometheus-alertmanager >/dev/null 2>&1 || true

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy daemon cluster notify

pytest: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

test: system-packages lint typecheck pytest

bench: $(STAMP) system-packages
	$(BIN)/python bench/bench.py $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
