# Two commands do everything on a fresh clone: `make report` (main job) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SWEEP  ?= runs/quick-fashion_mnist
# pip's notes on running as root and on its own updates are not about this project.
export PIP_ROOT_USER_ACTION := ignore
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: report test bench setup data clean

report: setup
	@scripts/system-deps.sh dataset-fashion-mnist
	@scripts/fetch-mnist10k.sh
	$(BIN)/replicate data
	$(BIN)/replicate run --profile quick --out $(SWEEP)

test: setup
	@scripts/system-deps.sh dataset-fashion-mnist chromium
	@$(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "error: pytest collected no tests; the suite is missing" >&2; fi; \
	exit $$status

bench: setup
	@scripts/system-deps.sh dataset-fashion-mnist
	$(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

data: setup
	@scripts/system-deps.sh dataset-fashion-mnist
	@scripts/fetch-mnist10k.sh
	$(BIN)/replicate data

clean:
	rm -rf $(VENV) runs build *.egg-info
