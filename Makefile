# Hydro developer / CI entry points. `make test` brings up everything the tests need on a bare machine:
# Debian packages, dockerd + registry + the hydro_test database, the offline runtime base image and the
# example models' wheelhouse, then runs pytest against them.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.hydro-installed

export HYDRO_TEST_DATABASE_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/hydro_test
export HYDRO_REGISTRY ?= 127.0.0.1:5000
export HYDRO_RUNTIME_BASE_IMAGE ?= hydro/runtime-base:py3.11
export HYDRO_WHEELHOUSE ?= $(abspath .cache/wheelhouse)

PYTEST_ARGS ?=

.PHONY: venv system services base-image wheelhouse test run lint generate bench stop-services services-status registry-gc

## venv: .venv with the project installed editable (re-installs only when pyproject.toml changed)
venv: $(VENV_STAMP)

$(VENV_STAMP): pyproject.toml
	@echo "[venv] $(VENV): pip install -e '.[dev]'"
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

## system: Debian packages (docker.io, docker-registry, debootstrap, chromium)
system:
	scripts/install_system.sh

## services: dockerd, registry on 127.0.0.1:5000, database hydro_test
services: system
	scripts/services.sh start

services-status:
	scripts/services.sh status

stop-services:
	scripts/services.sh stop

## registry-gc: reclaim the registry's unreferenced blobs (after `hydro gc`); DRY_RUN=1 only lists them
registry-gc:
	scripts/services.sh registry-gc $(if $(DRY_RUN),--dry-run)

## base-image: the offline runtime base image ($(HYDRO_RUNTIME_BASE_IMAGE))
base-image: services
	scripts/build_base_image.sh

## wheelhouse: wheels for the example models ($(HYDRO_WHEELHOUSE))
wheelhouse:
	scripts/build_wheelhouse.sh

test: venv services base-image wheelhouse
	$(VENV)/bin/pytest $(PYTEST_ARGS)

## run: the platform on its embedded default (SQLite, local object store, process runtime)
run: venv
	$(VENV)/bin/hydro up --example

## lint: ruff format check, ruff, mypy strict, import-linter contracts (pyproject.toml)
lint: venv
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

generate: venv
	$(PY) -m protos.generate

bench: venv services base-image wheelhouse
	$(PY) -m bench.cold_start
