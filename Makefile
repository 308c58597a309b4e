# Every target sets itself up: a fresh machine needs only `make demo` or `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test unit lint crd rbac krew bench soak system-deps clean

# Both distributions: the operator (slipway-operator) and the dev cluster (slipway-dev, in devcluster/).
$(STAMP): pyproject.toml devcluster/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]' -e ./devcluster
	touch $(STAMP)

# Prometheus and Alertmanager from Debian, which the tests start as plain processes; Chromium and its
# WebDriver, which drive the dashboard's page in tests/cli/test_plugin_dashboard.py.
SYSTEM_PACKAGES := prometheus prometheus-alertmanager chromium chromium-driver
system-deps:
	@if ! command -v prometheus >/dev/null || ! command -v prometheus-alertmanager >/dev/null \
		|| ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
		else echo "note: some of $(SYSTEM_PACKAGES) missing and not root; tests that need them will be skipped"; fi; \
	fi

demo: $(STAMP) system-deps
	$(BIN)/slipway demo

# Three workers on the 2-core CI machine: most end-to-end time is waiting (pauses, analysis intervals,
# Lease expiries). The suite took 14:47 with two, 10:58 with three, and even then used 1.37 of the 2
# cores (2026-12-06). Each file runs on one worker (its module fixtures are set up once).
test: $(STAMP) system-deps lint
	$(BIN)/pytest -n 3 --dist loadfile

# The pure parts only (no dev cluster, no processes), for a quick edit-test loop.
unit: $(STAMP)
	$(BIN)/pytest -n 2 tests/api tests/core tests/routers tests/plugins tests/gitops tests/architecture

lint: $(STAMP)
	$(BIN)/ruff check operator devcluster tests bench
	$(BIN)/mypy
	$(BIN)/mypy --strict bench
	$(BIN)/lint-imports

crd: $(STAMP)
	$(BIN)/slipway crd > crds/releases.slipway.dev.yaml
	cp crds/releases.slipway.dev.yaml charts/slipway/crds/  # the Helm chart ships the same CRD

# The chart's RBAC rules, from what the operator and each plug-in declare they call.
rbac: $(STAMP)
	$(BIN)/slipway rbac > charts/slipway/templates/_rules.tpl

# The archive plugins/krew/slipway.yaml names (reproducible); prints the sha256 the manifest must hold.
krew: $(STAMP)
	$(BIN)/python plugins/krew/archive.py dist

# The property test of tests/cli/test_cli_crd_manifests.py at nightly size too.
bench: $(STAMP)
	@for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done
	SLIPWAY_CRD_EXAMPLES=10000 $(BIN)/pytest -q -n 0 -p no:cacheprovider tests/cli/test_cli_crd_manifests.py

# Issue 13's soak at full size: 60 Releases x 6 versions, the operator SIGKILLed every ~10 s, API faults.
# make test runs it scaled down (tests/bench/test_soak_scaled_down.py).
soak: $(STAMP)
	$(BIN)/python bench/soak.py --releases 60 --versions 6

clean:
	rm -rf $(VENV) .slipway .pytest_cache .mypy_cache .ruff_cache
