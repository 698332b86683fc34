# nsrun: every target installs what it needs first, from nothing, and is quick when that is done.
SHELL := /bin/bash
PY ?= /usr/bin/python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := busybox-static nftables libnftables1 python3-nftables python3-seccomp iptables iproute2 python3-venv \
                bubblewrap crun runc iperf3 socat util-linux procps openssl curl gcc libc6-dev \
                docker-registry skopeo apache2-utils mmdebstrap umoci redis-tools \
                podman conmon docker.io containerd docker-compose
STAMP := $(VENV)/.nsrun-installed
# nsrun is installed as a regular (non-editable) package: an editable install's import hook costs ~10 ms on
# every interpreter start, which is on the path of every container start. Any source change reinstalls it.
SOURCES := pyproject.toml tools/fast_launcher.py $(shell find core plugins examples -name '*.py' -o -name '*.json' -o -name pyproject.toml 2>/dev/null)

.PHONY: setup demo test test-unit test-privileged bench bench-daemon clean apt

setup: apt $(STAMP)

# Debian packages: installed only when one is missing (dpkg-query is fast; apt is not).
apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(VENV)/.deps-installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -U pip 'setuptools>=64' wheel
	$(BIN)/pip install -q --disable-pip-version-check '.[test]'
	# The nftables binding ships with libnftables (Debian's python3-nftables), not on PyPI: link it in.
	ln -sfn /usr/lib/python3/dist-packages/nftables $$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/nftables
	# So is libseccomp's (Debian's python3-seccomp; the seccomp plugin compiles profiles to BPF with it).
	purelib=$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'); \
	for so in /usr/lib/python3/dist-packages/seccomp.cpython-*.so; do ln -sfn $$so $$purelib/; done
	touch $@

$(STAMP): $(VENV)/.deps-installed $(SOURCES)
	$(BIN)/pip install -q --disable-pip-version-check --no-deps --no-build-isolation --force-reinstall \
	    . ./examples/nsrun-example-plugin ./examples/nsrun-example-firewall
	rm -rf build examples/nsrun-example-plugin/build examples/nsrun-example-firewall/build
	$(BIN)/python tools/fast_launcher.py $(BIN) nsrun=nsrun._entry:main nsrun-oci=nsrun.oci._entry:entry
	$(BIN)/nsrun version
	touch $@

demo: setup
	./demo.sh


test: setup
	$(BIN)/python -m pytest -q tests

test-unit: setup
	$(BIN)/python -m pytest -q tests/unit

test-privileged: setup
	$(BIN)/python -m pytest -q tests/privileged

# `make bench` compares nsrun with the runtimes installed here (bubblewrap, crun, runc, util-linux's unshare:
# all in APT_PACKAGES); `make bench FULL=1` adds a private dockerd (docker.io) for the Docker comparisons.
# BENCH_ARGS passes options through, e.g. `make bench BENCH_ARGS="--quick"`; see docs/bench.md.
BENCH_APT := bubblewrap crun runc util-linux iperf3 $(if $(filter 1,$(FULL)),docker.io)
BENCH_ARGS ?=

bench: setup
	@missing=$$(for p in $(BENCH_APT); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing the benchmark's anchors: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	$(BIN)/python bench/run.py $(if $(filter 1,$(FULL)),--full) --update-docs docs/bench.md $(BENCH_ARGS)

bench-daemon: setup
	$(BIN)/python bench/daemon.py

clean:
	rm -rf $(VENV)

.PHONY: bench-net
bench-net: setup
	$(BIN)/python bench/net.py
