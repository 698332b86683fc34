# nsrun: every target installs what it needs first, from nothing, and is quick when that is done.
SHELL := /bin/bash
PY ?= /usr/bin/python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := busybox-static nftables libnftables1 python3-nftables iptables iproute2 python3-venv \
                bubblewrap crun runc iperf3 socat util-linux procps
STAMP := $(VENV)/.nsrun-installed

.PHONY: setup demo test test-unit test-privileged bench clean

setup: $(STAMP)

# Debian packages: installed only when one is missing (dpkg-query is fast; apt is not).
.apt-ok:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml examples/nsrun-example-plugin/pyproject.toml | .apt-ok
	$(MAKE) .apt-ok
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test]' -e examples/nsrun-example-plugin
	# The nftables binding ships with libnftables (Debian's python3-nftables), not on PyPI: link it in.
	ln -sfn /usr/lib/python3/dist-packages/nftables $$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/nftables
	$(BIN)/nsrun version
	touch $(STAMP)

demo: setup
	./demo.sh

test: setup
	$(BIN)/python -m pytest -q tests

test-unit: setup
	$(BIN)/python -m pytest -q tests/unit

test-privileged: setup
	$(BIN)/python -m pytest -q tests/privileged

bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV)

.PHONY: bench-net
bench-net: setup
	$(BIN)/python bench/net.py
