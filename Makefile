# saferl — the two set-up commands of the README live here.
#   make demo   install saferl and verify the shipped example policies
#   make test   install saferl with every extra (ray included) and run the whole test suite
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
PIP     := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: demo test install install-dev torcs bench lint clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

install: $(BIN)/python
	$(PIP) install -e .

# torch first, pinned to the machine's CPU wheel, so nothing pulls a CUDA build.
install-dev: $(BIN)/python
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[learn,dev,ray]'

demo: install
	bash scripts/demo.sh $(BIN)/saferl

torcs:
	bash torcs-robot/install.sh

test: install-dev
	bash scripts/test.sh $(BIN)

bench: install-dev
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

lint:
	$(BIN)/ruff check saferl tests bench
	$(BIN)/mypy saferl

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
