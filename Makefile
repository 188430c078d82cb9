# The two commands a newcomer runs: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test venv bench-load bench-stages bench-serve-during-load bench-query bench-z3950 bench-oai bench-sru bench-ill clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

serve: $(STAMP)
	$(BIN)/unishelf load --demo --if-empty
	$(BIN)/unishelf serve

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench-load: $(STAMP)
	$(BIN)/python bench/bench_load.py

bench-stages: $(STAMP)
	$(BIN)/python bench/bench_stages.py

bench-serve-during-load: $(STAMP)
	$(BIN)/python bench/bench_serve_during_load.py

bench-query: $(STAMP)
	$(BIN)/python bench/bench_query.py

bench-z3950: $(STAMP)
	$(BIN)/python bench/bench_z3950.py

bench-oai: $(STAMP)
	$(BIN)/python bench/bench_oai.py

bench-sru: $(STAMP)
	$(BIN)/python bench/bench_sru.py

bench-ill: $(STAMP)
	$(BIN)/python bench/bench_ill.py

clean:
	rm -rf $(VENV) var
