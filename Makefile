# tapd — contactless payment terminal daemon.
#   make demo    run the demo (no hardware needed)
#   make test    run every test (installs what the tests need first)
#   make fuzz    coverage-guided fuzzing (libFuzzer + AddressSanitizer): the card-input parsers for FUZZ_TIME seconds,
#                then Entry Point and the kernels for FUZZ_KERNEL_RUNS executions of mutated conversations
#   make release the daemon and tapctl as installed: release build, optimised for size (RELEASE_FLAGS)
#   make bench   release-mode benchmarks (figures go to the README's performance section)
#   make lint    swift format lint --strict over the tree (.swift-format: line length 120); make format applies it
#   make install [PREFIX=/usr] [DESTDIR=…]   binaries, units, udev rules, sysusers/tmpfiles, configuration, CA keys
#   make uninstall [PREFIX=/usr] [DESTDIR=…]
# Debian packages are installed with apt-get when missing (needs root or sudo).

SWIFT        ?= swift
FUZZ_TIME    ?= 300
# Executions of the structure-aware kernel target (Entry Point and the kernels on mutated conversations).
FUZZ_KERNEL_RUNS ?= 1000000
FUZZ_RT      := $(shell ls /opt/swift/usr/lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a 2>/dev/null | head -1)
DEB_PACKAGES := pkg-config libssl-dev libsqlite3-dev libpcsclite-dev libnfc-dev libusb-1.0-0-dev pcscd libccid vsmartcard-vpcd libnfc-bin pcsc-tools socat python3 python3-pip util-linux iproute2 systemd prometheus

# Installation layout (PREFIX and DESTDIR respected). The binaries and their resource bundles (CA keys, the OpenAPI
# document) live together in $(LIBEXECDIR); $(BINDIR) holds symlinks to them.
PREFIX       ?= /usr/local
BINDIR       ?= $(PREFIX)/bin
LIBEXECDIR   ?= $(PREFIX)/lib/tapd
DATADIR      ?= $(PREFIX)/share/tapd
DOCDIR       ?= $(PREFIX)/share/doc/tapd
SYSCONFDIR   ?= /etc
UNITDIR      ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR  ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR  ?= $(PREFIX)/lib/tmpfiles.d
UDEVRULESDIR ?= $(PREFIX)/lib/udev/rules.d
MODPROBEDIR  ?= $(PREFIX)/lib/modprobe.d
# Where the built binaries are; NO_BUILD=1 installs what is there without building (the install test does).
BUILD_CONFIG ?= release
# Release builds are optimised for size, dependencies included: the daemon's hot path waits on the card and on
# fsync, not on the CPU, and its code is resident memory for as long as it runs (README, Performance).
RELEASE_FLAGS ?= -Xswiftc -Osize -Xcc -Os
BUILD_FLAGS  := $(if $(filter release,$(BUILD_CONFIG)),$(RELEASE_FLAGS))
BINPATH      ?= $(shell $(SWIFT) build -c $(BUILD_CONFIG) --show-bin-path 2>/dev/null)

.PHONY: all build release deps demo test contract fuzz fuzz-smoke bench lint format clean install uninstall deb

FORMAT_PATHS := Sources Tests Benchmarks/Sources Fuzz

# Every public declaration of these modules has a doc comment (the second pass).
DOCUMENTED_MODULES := Sources/Journal Sources/TapdCore Sources/Acquirer Sources/ControlAPI Sources/FaultInjection Sources/ISO8583 \
  Sources/EMVCrypto Sources/Readers Sources/Diagnostics Sources/Simulators

lint:
	$(SWIFT) format lint --strict --parallel --recursive $(FORMAT_PATHS)
	$(SWIFT) format lint --strict --parallel --recursive --configuration .swift-format-public-docs $(DOCUMENTED_MODULES)

format:
	$(SWIFT) format format --in-place --parallel --recursive $(FORMAT_PATHS)

all: build

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@# pyiso8583: the independent ISO 8583 implementation the codec tests cross-check against.
	@python3 -c "import iso8583" 2>/dev/null || python3 -m pip install -q pyiso8583 2>/dev/null \
	  || python3 -m pip install -q --break-system-packages pyiso8583
	@# schemathesis: the contract fuzzer run against the API's OpenAPI document (make contract).
	@command -v schemathesis >/dev/null 2>&1 || python3 -m pip install -q schemathesis 2>/dev/null \
	  || python3 -m pip install -q --break-system-packages schemathesis

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release $(RELEASE_FLAGS) --product tapd
	$(SWIFT) build -c release $(RELEASE_FLAGS) --product tapctl

demo: deps
	$(SWIFT) build --product tapd
	$$($(SWIFT) build --show-bin-path)/tapd demo

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-swift-testing
	Tests/Contract/run-schemathesis $$($(SWIFT) build --show-bin-path)

# Contract fuzzing alone: schemathesis (all checks) against the OpenAPI document, on the demo daemon.
contract: deps
	$(SWIFT) build --product tapd
	Tests/Contract/run-schemathesis $$($(SWIFT) build --show-bin-path)

fuzz: deps
	@test -n "$(FUZZ_RT)" || { echo "libFuzzer runtime (libclang_rt.fuzzer_no_main) not found in the Swift toolchain"; exit 1; }
	cd Fuzz && $(SWIFT) build -c release --scratch-path .build \
	  -Xswiftc -sanitize=address -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp \
	  -Xswiftc -parse-as-library -Xlinker $(FUZZ_RT) -Xlinker -lstdc++ --product FuzzParsers
	cd Fuzz && $(SWIFT) build -c release --scratch-path .build \
	  -Xswiftc -sanitize=address -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp \
	  -Xswiftc -parse-as-library -Xlinker $(FUZZ_RT) -Xlinker -lstdc++ --product FuzzKernels
	mkdir -p Fuzz/corpus-parsers Fuzz/corpus-kernels
	Fuzz/.build/release/FuzzParsers -max_total_time=$(FUZZ_TIME) -max_len=2048 -timeout=5 -rss_limit_mb=2048 Fuzz/corpus-parsers
	Fuzz/.build/release/FuzzKernels -runs=$(FUZZ_KERNEL_RUNS) -max_len=320 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 Fuzz/corpus-kernels

bench: deps
	$(SWIFT) build -c release $(RELEASE_FLAGS) --product tapd
	cd Benchmarks && $(SWIFT) build -c release $(RELEASE_FLAGS) && $$($(SWIFT) build -c release --show-bin-path)/tapd-bench \
	  && $$($(SWIFT) build -c release --show-bin-path)/tapd-reader-bench \
	  && TAPD_BINARY=$$(cd .. && $(SWIFT) build -c release --show-bin-path)/tapd $$($(SWIFT) build -c release --show-bin-path)/tapd-daemon-bench \
	  && TAPD_BINARY=$$(cd .. && $(SWIFT) build -c release --show-bin-path)/tapd $$($(SWIFT) build -c release --show-bin-path)/tapd-scale-bench

# The Debian package: debian/ is made from Systemd/debian in .build-deb (the source tree stays as it is), from a
# release build; lintian must report no error. Needs debhelper, lintian, patchelf, fakeroot (apt-get).
VERSION      := $(shell sed -n 's/.*string = "\(.*\)".*/\1/p' Sources/TapdCore/Version.swift)
DEB_VERSION  := $(subst -,~,$(VERSION))
DEB_DIR      := .build-deb/tapd-$(DEB_VERSION)

deb:
	$(SWIFT) build -c release $(RELEASE_FLAGS) --product tapd
	$(SWIFT) build -c release $(RELEASE_FLAGS) --product tapctl
	rm -rf .build-deb && mkdir -p $(DEB_DIR)
	cp -R Systemd/debian $(DEB_DIR)/debian
	cp Systemd/tapd.sysusers $(DEB_DIR)/debian/tapd.sysusers
	cp Systemd/tapd.tmpfiles $(DEB_DIR)/debian/tapd.tmpfiles
	cp Udev/94-tapd.rules $(DEB_DIR)/debian/tapd.udev
	printf 'tapd (%s) bookworm; urgency=medium\n\n  * Release %s (%s).\n\n -- tapd maintainers <maintainers@tapd.example>  %s\n' \
	  "$(DEB_VERSION)" "$(VERSION)" "$$(git rev-parse --short HEAD 2>/dev/null || echo source)" "$$(date -R)" > $(DEB_DIR)/debian/changelog
	cd $(DEB_DIR) && TAPD_SRC=$(CURDIR) BINPATH=$$(cd $(CURDIR) && $(SWIFT) build -c release --show-bin-path) \
	  dpkg-buildpackage -b -us -uc --no-sign
	lintian --fail-on error --suppress-tags-from-file Systemd/debian/lintian-suppressed .build-deb/tapd_$(DEB_VERSION)_*.deb
	cp .build-deb/tapd_$(DEB_VERSION)_*.deb .
	@ls -l tapd_$(DEB_VERSION)_*.deb

install:
	@if [ -z "$(NO_BUILD)" ]; then $(SWIFT) build -c $(BUILD_CONFIG) $(BUILD_FLAGS) --product tapd && $(SWIFT) build -c $(BUILD_CONFIG) $(BUILD_FLAGS) --product tapctl; fi
	install -d $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR)/capk $(DESTDIR)$(DOCDIR)/Firmware-Notes \
	  $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(UDEVRULESDIR) $(DESTDIR)$(MODPROBEDIR) \
	  $(DESTDIR)$(SYSCONFDIR)/tapd
	install -m 0755 $(BINPATH)/tapd $(BINPATH)/tapctl $(DESTDIR)$(LIBEXECDIR)/
	for b in $(BINPATH)/*.resources; do rm -rf $(DESTDIR)$(LIBEXECDIR)/$$(basename $$b); cp -R $$b $(DESTDIR)$(LIBEXECDIR)/; done
	ln -sf $(LIBEXECDIR)/tapd $(DESTDIR)$(BINDIR)/tapd
	ln -sf $(LIBEXECDIR)/tapctl $(DESTDIR)$(BINDIR)/tapctl
	install -m 0644 Sources/EMVKernel/CAKeys/production.capk Sources/EMVKernel/CAKeys/test.capk Sources/EMVKernel/CAKeys/revoked.crl $(DESTDIR)$(DATADIR)/capk/
	sed 's|/usr/bin/tapd|$(BINDIR)/tapd|' Systemd/tapd.service > $(DESTDIR)$(UNITDIR)/tapd.service && chmod 0644 $(DESTDIR)$(UNITDIR)/tapd.service
	install -m 0644 Systemd/tapd-pcsc-only.conf $(DESTDIR)$(DOCDIR)/tapd-pcsc-only.conf
	install -m 0644 Systemd/tapd.sysusers $(DESTDIR)$(SYSUSERSDIR)/tapd.conf
	install -m 0644 Systemd/tapd.tmpfiles $(DESTDIR)$(TMPFILESDIR)/tapd.conf
	install -m 0644 Udev/94-tapd.rules $(DESTDIR)$(UDEVRULESDIR)/94-tapd.rules
	install -m 0644 Udev/tapd-blacklist.conf $(DESTDIR)$(MODPROBEDIR)/tapd-blacklist.conf
	install -m 0644 Firmware-Notes/*.md $(DESTDIR)$(DOCDIR)/Firmware-Notes/
	install -d $(DESTDIR)$(DATADIR)/prometheus $(DESTDIR)$(DATADIR)/grafana
	install -m 0644 Systemd/prometheus/tapd-alerts.yml Systemd/prometheus/tapd-alerts.test.yml $(DESTDIR)$(DATADIR)/prometheus/
	install -m 0644 Systemd/grafana/tapd-dashboard.json $(DESTDIR)$(DATADIR)/grafana/
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	@# The configuration is installed once and never overwritten; the shipped default is kept beside it.
	install -m 0640 Systemd/tapd.toml $(DESTDIR)$(DOCDIR)/tapd.toml.default
	test -e $(DESTDIR)$(SYSCONFDIR)/tapd/tapd.toml || install -m 0640 Systemd/tapd.toml $(DESTDIR)$(SYSCONFDIR)/tapd/tapd.toml
	@# Readable by the daemon (group tapd), not by the point of sale: systemd-tmpfiles --create sets root:tapd 0640.
	@if [ -z "$(DESTDIR)" ] && getent group tapd >/dev/null; then chgrp tapd $(SYSCONFDIR)/tapd $(SYSCONFDIR)/tapd/tapd.toml && chmod 0750 $(SYSCONFDIR)/tapd; fi
	@echo "Installed. Next: systemd-sysusers; systemd-tmpfiles --create; udevadm control --reload; a journal key in"
	@echo "/etc/credstore/tapd/journal.key (head -c 32 /dev/urandom, mode 0600); edit $(SYSCONFDIR)/tapd/tapd.toml;"
	@echo "tapd run --check-config; systemctl daemon-reload; systemctl enable --now tapd"

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/tapd $(DESTDIR)$(BINDIR)/tapctl
	rm -rf $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(DATADIR) $(DESTDIR)$(DOCDIR)
	rm -f $(DESTDIR)$(UNITDIR)/tapd.service $(DESTDIR)$(SYSUSERSDIR)/tapd.conf $(DESTDIR)$(TMPFILESDIR)/tapd.conf \
	  $(DESTDIR)$(UDEVRULESDIR)/94-tapd.rules $(DESTDIR)$(MODPROBEDIR)/tapd-blacklist.conf
	@# The configuration stays if it was changed; an untouched default goes.
	@if cmp -s Systemd/tapd.toml $(DESTDIR)$(SYSCONFDIR)/tapd/tapd.toml; then rm -f $(DESTDIR)$(SYSCONFDIR)/tapd/tapd.toml; \
	  rmdir $(DESTDIR)$(SYSCONFDIR)/tapd 2>/dev/null || true; \
	  else echo "kept $(SYSCONFDIR)/tapd/tapd.toml (changed)"; fi

clean:
	rm -rf .build Fuzz/.build Benchmarks/.build
