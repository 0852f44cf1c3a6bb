# Two commands: `make run` (the platform on embedded defaults) and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export HALO_HOME ?= $(CURDIR)/.halo
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
DAGSTER_PORT ?= 3000
HALO_PORT ?= 8080

.PHONY: install run test lint clean

$(BIN)/halo: setup.py constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q pip==26.3
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(BIN)/halo

install: $(BIN)/halo

# the browser tests drive Debian's chromium (Playwright never downloads a browser here)
/usr/bin/chromium:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

run: install
	mkdir -p $(DAGSTER_HOME) && cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/halo demo
	# from DAGSTER_HOME, where the instance's dagster.yaml is (dagster dev warns about any other);
	# `halo up` runs halo serve (Control Center) and dagster dev; exec: Ctrl-C reaches them all
	cd $(DAGSTER_HOME) && exec $(CURDIR)/$(BIN)/halo up --port $(HALO_PORT) --dagster-port $(DAGSTER_PORT) -w $(CURDIR)/workspace.yaml

test: install /usr/bin/chromium
	$(BIN)/ruff check halo_platform halo_platform_tests
	$(BIN)/lint-imports
	$(BIN)/pytest -n 3

lint: install
	$(BIN)/ruff check halo_platform halo_platform_tests
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .halo .dagster_home *.egg-info
