VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup run test test-fast bench package package-cpu clean-venv

$(VENV)/.prosemix-setup: pyproject.toml setup.py packaging/setup_env.sh
	VENV=$(VENV) bash packaging/setup_env.sh

setup: $(VENV)/.prosemix-setup

run: setup
	$(PY) main.py

test: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

# the developer's loop: the unit tests, which load no model (pytest -m integration runs the rest)
test-fast: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -m "not integration"

# make bench NAME=engine ARGS="--only llama"; make bench alone lists them
bench: setup
	$(PY) -m benchmarks $(NAME) $(ARGS)

package: setup
	PY=$(PY) bash packaging/build.sh full

package-cpu: setup
	PY=$(PY) bash packaging/build.sh cpu

clean-venv:
	rm -rf $(VENV)
