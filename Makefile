# Every target installs what it needs first, so each works on a fresh clone.
UV ?= uv
PYTEST_ARGS ?=

.PHONY: install demo serve test lint typecheck bench

install:
	@command -v $(UV) >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen

demo: install
	$(UV) run syncline demo

serve: install
	$(UV) run syncline serve

test: install
	$(UV) run pytest -n 2 $(PYTEST_ARGS)

lint: install
	$(UV) run ruff check src tests bench
	$(UV) run ruff format --check src tests bench
	$(UV) run mypy

bench: install
	$(UV) run python -m bench all
