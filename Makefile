# Flotilla — every target installs what it needs first (scripts/setup.sh is idempotent).
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PYTEST_WORKERS ?= 2

.PHONY: help setup setup-local-model eval demo test test-fast lint format dev bench bench-readme archmap clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: ## install Debian packages (chromium, bubblewrap, runsc) and the .venv
	@scripts/setup.sh

setup-local-model: setup ## the embedded local model for --model local (xllamacpp + a 1.1 GB GGUF, hash-checked)
	@scripts/setup-local-model.sh

demo: setup ## research the bundled demo sites (embedded Redis, offline brain)
	$(BIN)/flotilla demo

test: setup ## the whole suite: unit, graph, integration, e2e (slow ones in parallel)
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadfile

test-fast: setup ## unit tests only
	$(BIN)/pytest -q -m "not slow and not e2e"

lint: setup ## ruff (check + format, docstrings, imports), mypy (strict on graph/ and memory/), import layers
	$(BIN)/ruff check graph nodes sandbox memory cli demo_sites integrations examples tests bench eval scripts
	$(BIN)/ruff format --check graph nodes sandbox memory cli demo_sites integrations examples tests bench eval scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

format: setup ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix graph nodes sandbox memory cli demo_sites integrations examples tests bench eval scripts
	$(BIN)/ruff format graph nodes sandbox memory cli demo_sites integrations examples tests bench eval scripts

dev: setup ## LangGraph dev server (Studio) on langgraph.json
	$(BIN)/langgraph dev --no-browser

eval: setup-local-model ## both brains over the demo sites, scored against eval/truth (table + eval/results/latest.json)
	$(BIN)/python -m eval.run

bench: setup ## benchmarks (numbers, no assertions): bench/results/latest.json, plots, table
	$(BIN)/python -m bench.run

bench-readme: setup ## rewrite the README's benchmark table from bench/results/latest.json
	$(BIN)/python -m bench.readme_table

archmap: setup ## redraw the README's architecture picture from the code's imports
	$(BIN)/python scripts/archmap.py

clean: ## remove runs and local state (keeps .venv)
	rm -rf runs .flotilla .pytest_cache .mypy_cache .ruff_cache
