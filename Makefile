# tapd — contactless payment terminal daemon.
#   make demo    run the demo (no hardware needed)
#   make test    run every test (installs what the tests need first)
#   make fuzz    coverage-guided fuzzing of the card-input parsers (libFuzzer + AddressSanitizer)
#   make bench   release-mode benchmarks (figures go to the README's performance section)
# Debian packages are installed with apt-get when missing (needs root or sudo).

SWIFT        ?= swift
FUZZ_TIME    ?= 300
FUZZ_RT      := $(shell ls /opt/swift/usr/lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a 2>/dev/null | head -1)
DEB_PACKAGES := pkg-config libssl-dev libsqlite3-dev libpcsclite-dev libnfc-dev libusb-1.0-0-dev pcscd libccid vsmartcard-vpcd libnfc-bin pcsc-tools socat python3 python3-pip util-linux iproute2

.PHONY: all build deps demo test fuzz fuzz-smoke bench clean

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

build: deps
	$(SWIFT) build

demo: deps
	$(SWIFT) build --product tapd
	$$($(SWIFT) build --show-bin-path)/tapd demo

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-swift-testing

fuzz: deps
	@test -n "$(FUZZ_RT)" || { echo "libFuzzer runtime (libclang_rt.fuzzer_no_main) not found in the Swift toolchain"; exit 1; }
	cd Fuzz && $(SWIFT) build -c release --scratch-path .build \
	  -Xswiftc -sanitize=address -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp \
	  -Xswiftc -parse-as-library -Xlinker $(FUZZ_RT) -Xlinker -lstdc++ --product FuzzParsers
	mkdir -p Fuzz/corpus-parsers
	Fuzz/.build/release/FuzzParsers -max_total_time=$(FUZZ_TIME) -max_len=2048 -timeout=5 -rss_limit_mb=2048 Fuzz/corpus-parsers

bench: deps
	$(SWIFT) build -c release --product tapd
	cd Benchmarks && $(SWIFT) build -c release && $$($(SWIFT) build -c release --show-bin-path)/tapd-bench \
	  && $$($(SWIFT) build -c release --show-bin-path)/tapd-reader-bench \
	  && TAPD_BINARY=$$(cd .. && $(SWIFT) build -c release --show-bin-path)/tapd $$($(SWIFT) build -c release --show-bin-path)/tapd-daemon-bench

clean:
	rm -rf .build Fuzz/.build Benchmarks/.build
