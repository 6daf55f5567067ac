# Two entry points: `make run` (install, build the index if missing or stale, start the page)
# and `make test` (install, run the whole test suite). Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)
export HF_HUB_OFFLINE := 1

.PHONY: install index run test

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

index: install
	$(BIN)/python -m qa build

run: index
	$(BIN)/python -m streamlit run app.py

test: install
	$(BIN)/python -m pytest
