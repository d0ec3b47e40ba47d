# nsbox — build, test, bench, install.  Every library comes through pkg-config.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
LIBDIR ?= $(PREFIX)/lib/nsbox
DESTDIR ?=

CC ?= cc
PKGS := jansson libcap mount
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS := $(shell pkg-config --libs $(PKGS))
# Image code (oci/ and the image verbs) links libcurl, libarchive and libcrypto,
# whose loading alone costs ~8 ms: it lives in nsbox-images.so, which nsbox
# dlopens only for image work, so `nsbox run` never pays for it.
OCI_PKGS := libcurl libarchive libcrypto jansson
OCI_CFLAGS := $(shell pkg-config --cflags $(OCI_PKGS))
OCI_LIBS := $(shell pkg-config --libs $(OCI_PKGS))
# libseccomp only compiles profiles: the default one at build time (by
# build/seccomp-gen, into the binary), others in nsbox-seccomp.so, which
# nsbox dlopens on a cache miss -- a sandbox start never loads it.
SECCOMP_LIBS := $(shell pkg-config --libs libseccomp jansson)
# The egress proxy of `--network filtered` (proxy/) resolves names with
# c-ares: it lives in nsbox-proxy.so, which the proxy process dlopens, so
# nsbox itself never links c-ares.
PROXY_LIBS := $(shell pkg-config --libs libcares jansson)
# proxy/policy.c needs neither: the CLI may compile it in to check rules
# (the unit tests then link it once).
PROXY_SRCS := $(wildcard proxy/*.c)
WERROR ?=
CFLAGS ?= -O2 -g
VERSION := 0.1.0
CFLAGS += -DNSBOX_VERSION=\"$(VERSION)\" -DNSBOX_LIBDIR=\"$(LIBDIR)\" -std=gnu17 -Wall -Wextra $(WERROR) -I. $(PKG_CFLAGS)
LDFLAGS += -Wl,--as-needed -Wl,-z,relro,-z,now
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer

OCI_CLI_SRCS := $(wildcard cli/image_*.c)
OCI_SRCS := $(wildcard oci/*.c) $(OCI_CLI_SRCS)
SECCOMP_SRCS := runtime/seccomp_compile.c
GIT_SRCS := cli/git_identity.c
# The policy rules are checked by nsbox policy too (pure logic, no c-ares).
SYSTEMD_SRCS := runtime/systemd_scope.c
SRCS := $(filter-out $(OCI_CLI_SRCS) $(SECCOMP_SRCS) $(GIT_SRCS) $(SYSTEMD_SRCS) runtime/seccomp_gen.c,$(wildcard runtime/base/*.c runtime/*.c cli/*.c)) proxy/policy.c
LIB_SRCS := $(filter-out cli/main.c,$(SRCS))
OBJS := $(SRCS:%.c=build/%.o) build/embed.o build/seccomp_default.o
# What image code shares with the rest of nsbox is compiled in again (PIC).
SO_SHARED := $(wildcard runtime/base/*.c) runtime/idmap.c cli/subid.c cli/mapped.c cli/sandbox.c
SO_OBJS := $(OCI_SRCS:%.c=build/pic/%.o) $(SO_SHARED:%.c=build/pic/%.o)
SECCOMP_SO_OBJS := $(SECCOMP_SRCS:%.c=build/pic/%.o) $(patsubst %.c,build/pic/%.o,$(wildcard runtime/base/*.c))
GIT_SO_OBJS := $(GIT_SRCS:%.c=build/pic/%.o) $(patsubst %.c,build/pic/%.o,$(wildcard runtime/base/*.c))
GIT_LIBS := $(shell pkg-config --libs libgit2 jansson)
PROXY_SO_OBJS := $(PROXY_SRCS:%.c=build/pic/%.o) $(patsubst %.c,build/pic/%.o,$(wildcard runtime/base/*.c))
SYSTEMD_SO_OBJS := $(SYSTEMD_SRCS:%.c=build/pic/%.o) $(patsubst %.c,build/pic/%.o,$(wildcard runtime/base/*.c))
SYSTEMD_LIBS := $(shell pkg-config --libs libsystemd jansson)
SAN_OBJS := $(LIB_SRCS:%.c=build/san/%.o) $(OCI_SRCS:%.c=build/san/%.o) \
	$(SECCOMP_SRCS:%.c=build/san/%.o) $(SYSTEMD_SRCS:%.c=build/san/%.o) \
	$(patsubst %.c,build/san/%.o,$(filter-out $(LIB_SRCS),$(PROXY_SRCS))) \
	build/san/embed.o build/san/seccomp_default.o
PROFILES := $(wildcard profiles/agents/*.json profiles/seccomp/*.json)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=build/tests/%)
MANS := $(wildcard man/*.1 man/*.5 man/*.7)

PLUGINS := nsbox-images.so nsbox-seccomp.so nsbox-git.so nsbox-proxy.so nsbox-systemd.so

all: nsbox $(PLUGINS) build/tests/fake-systemd

nsbox: $(OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -ldl

nsbox-images.so: $(SO_OBJS)
	$(CC) $(CFLAGS) -shared -Wl,-z,defs $(LDFLAGS) -o $@ $^ $(OCI_LIBS) $(PKG_LIBS)

nsbox-seccomp.so: $(SECCOMP_SO_OBJS)
	$(CC) $(CFLAGS) -shared -Wl,-z,defs $(LDFLAGS) -o $@ $^ $(SECCOMP_LIBS)

# libgit2 (and what it links) to read the user's git identity: loaded only
# when the git config changed since a sandbox recorded it.
nsbox-git.so: $(GIT_SO_OBJS)
	$(CC) $(CFLAGS) -shared -Wl,-z,defs $(LDFLAGS) -o $@ $^ $(GIT_LIBS)

nsbox-proxy.so: $(PROXY_SO_OBJS)
	$(CC) $(CFLAGS) -shared -Wl,-z,defs $(LDFLAGS) -o $@ $^ $(PROXY_LIBS)

# The test driver built like the plugin (optimised, no sanitizers), for the
# bench, which runs the proxy through nsbox-proxy.so with --plugin.
build/bench/proxy-run: tests/proxy/proxy-run.c $(PROXY_SO_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PROXY_LIBS) -lpthread -ldl

# libsystemd's sd-bus, to ask the systemd user manager for a delegated
# scope: loaded only when limits are asked and no cgroup subtree is
# writable.
nsbox-systemd.so: $(SYSTEMD_SO_OBJS)
	$(CC) $(CFLAGS) -shared -Wl,-z,defs $(LDFLAGS) -o $@ $^ $(SYSTEMD_LIBS)

# A stand-in for org.freedesktop.systemd1 on a private bus, recording what
# it is asked (tests/unit/test_systemd.c; this host has no systemd).
build/tests/fake-systemd: tests/unit/fake_systemd.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(SYSTEMD_LIBS)

# The default profile, compiled once here and built into nsbox.
build/seccomp-gen: runtime/seccomp_gen.c $(SECCOMP_SRCS) $(wildcard runtime/base/*.c) $(wildcard runtime/*.h runtime/base/*.h)
	@mkdir -p build
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ runtime/seccomp_gen.c $(SECCOMP_SRCS) $(wildcard runtime/base/*.c) $(SECCOMP_LIBS) -ldl

build/seccomp_default.c: build/seccomp-gen profiles/seccomp/default.json
	build/seccomp-gen profiles/seccomp/default.json build/seccomp_default

build/seccomp_default.o: build/seccomp_default.c
	$(CC) $(CFLAGS) -c -o $@ $<

build/san/seccomp_default.o: build/seccomp_default.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN) -c -o $@ $<

build/pic/%.o: %.c $(wildcard */*.h runtime/base/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(OCI_CFLAGS) -fPIC -fvisibility=hidden -c -o $@ $<

build/%.o: %.c $(wildcard */*.h runtime/base/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

build/san/%.o: %.c $(wildcard */*.h runtime/base/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(OCI_CFLAGS) $(SAN) -c -o $@ $<

# Profiles are data, embedded in the binary so the default works anywhere.
build/embed.c: $(PROFILES) cli/gen-embed.sh
	@mkdir -p build
	sh cli/gen-embed.sh $(PROFILES) > $@

build/embed.o: build/embed.c
	$(CC) $(CFLAGS) -c -o $@ $<

build/san/embed.o: build/embed.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN) -c -o $@ $<

build/tests/test_%: tests/unit/test_%.c $(SAN_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(OCI_CFLAGS) $(SAN) -o $@ $< $(SAN_OBJS) $(PKG_LIBS) $(OCI_LIBS) $(SECCOMP_LIBS) $(PROXY_LIBS) $(SYSTEMD_LIBS) -ldl $(shell pkg-config --libs cmocka)

# The proxy alone on loopback ports, for tests/integration/proxy.bats and
# the bench (which runs it through nsbox-proxy.so with --plugin).
build/tests/proxy-run: tests/proxy/proxy-run.c $(PROXY_SRCS:%.c=build/san/%.o) $(patsubst %.c,build/san/%.o,$(wildcard runtime/base/*.c))
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(PROXY_LIBS) -lpthread -ldl

# The escape suite's probe: static, so it runs in any template.
build/tests/probe: tests/security/probe.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -std=gnu17 -Wall -Wextra $(WERROR) -static -o $@ $<

deps:
	@sh tests/deps.sh

check: nsbox $(PLUGINS) build/tests/probe build/tests/proxy-run build/tests/fake-systemd $(UNIT_BINS)
	@sh tests/check.sh $(UNIT_BINS)

unit: build/tests/fake-systemd $(UNIT_BINS)
	@sh tests/check.sh --unit-only $(UNIT_BINS)

bench: nsbox nsbox-images.so nsbox-proxy.so build/bench/proxy-run
	@sh bench/bench.sh

install: nsbox $(PLUGINS)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7
	install -m 0755 nsbox $(DESTDIR)$(BINDIR)/nsbox
	ln -sf nsbox $(DESTDIR)$(BINDIR)/nsbox-oci
	install -d $(DESTDIR)$(LIBDIR)
	install -m 0644 nsbox-images.so $(DESTDIR)$(LIBDIR)/nsbox-images.so
	install -m 0644 nsbox-seccomp.so $(DESTDIR)$(LIBDIR)/nsbox-seccomp.so
	install -m 0644 nsbox-git.so $(DESTDIR)$(LIBDIR)/nsbox-git.so
	install -m 0644 nsbox-proxy.so $(DESTDIR)$(LIBDIR)/nsbox-proxy.so
	install -m 0644 nsbox-systemd.so $(DESTDIR)$(LIBDIR)/nsbox-systemd.so
	for m in $(filter %.1,$(MANS)); do install -m 0644 $$m $(DESTDIR)$(MANDIR)/man1/; done
	for m in $(filter %.5,$(MANS)); do install -m 0644 $$m $(DESTDIR)$(MANDIR)/man5/; done
	for m in $(filter %.7,$(MANS)); do install -m 0644 $$m $(DESTDIR)$(MANDIR)/man7/; done
	$(if $(APPARMOR),$(MAKE) install-apparmor)

# The AppArmor profile that lets nsbox create user namespaces where the
# kernel restricts them to programs whose profile allows it (Ubuntu 23.10+,
# kernel.apparmor_restrict_unprivileged_userns=1): `make install APPARMOR=1`
# or `make install-apparmor`.  Installed into DESTDIR always (packages);
# on the running host only where that knob exists, since a host without it
# needs no profile and an older apparmor_parser refuses abi 4.0; loaded
# when AppArmor is on.
APPARMORDIR ?= /etc/apparmor.d
AA_KNOB := /proc/sys/kernel/apparmor_restrict_unprivileged_userns
install-apparmor:
	@if [ -z "$(DESTDIR)" ] && [ ! -e $(AA_KNOB) ]; then \
	  echo "install-apparmor: not installed: this kernel does not restrict user namespaces through AppArmor (no $(AA_KNOB))"; \
	  exit 0; \
	fi; \
	install -d $(DESTDIR)$(APPARMORDIR) && \
	sed 's|@BINDIR@|$(BINDIR)|g' profiles/apparmor/nsbox.in > $(DESTDIR)$(APPARMORDIR)/.nsbox.tmp && \
	chmod 0644 $(DESTDIR)$(APPARMORDIR)/.nsbox.tmp && \
	mv -f $(DESTDIR)$(APPARMORDIR)/.nsbox.tmp $(DESTDIR)$(APPARMORDIR)/nsbox && \
	echo "install-apparmor: wrote $(DESTDIR)$(APPARMORDIR)/nsbox for $(BINDIR)/nsbox" && \
	if [ -z "$(DESTDIR)" ] && [ -d /sys/kernel/security/apparmor ]; then \
	  apparmor_parser -r $(APPARMORDIR)/nsbox || { \
	    echo "install-apparmor: apparmor_parser refused the profile (it needs AppArmor >= 4.0 for abi 4.0 and the userns rule)"; exit 1; }; \
	else \
	  echo "install-apparmor: not loaded (DESTDIR set, or AppArmor is off here)"; \
	fi

format:
	clang-format -i $(SRCS) $(PROXY_SRCS) $(wildcard */*.h runtime/base/*.h tests/unit/*.c)

clean:
	rm -rf build nsbox $(PLUGINS)

# Naming every object in a rule keeps make from treating them as
# intermediate files (deleted after the build, or skipped when missing).
objects: $(OBJS) $(SO_OBJS) $(SAN_OBJS) $(SECCOMP_SO_OBJS) $(GIT_SO_OBJS) $(PROXY_SO_OBJS) $(SYSTEMD_SO_OBJS)

.PHONY: all deps check unit bench install install-apparmor format clean objects

# --- fuzz ------------------------------------------------------------------
# libFuzzer harnesses for `nsbox load` (tests/fuzz/): the image code, built
# with clang's coverage, ASan and UBSan, and linked into each harness.  Run as
# root, the harnesses themselves run as FUZZ_USER (see tests/fuzz/run-fuzz.sh).
FUZZ_CC ?= $(shell command -v clang-14 || command -v clang)
FUZZ_SECONDS ?= 60
FUZZ_USER ?= nsbox-test
FUZZ_HARNESSES := archive layout json
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer
FUZZ_CFLAGS := -O1 -g -std=gnu17 -Wall -Wextra -I. -DNSBOX_VERSION=\"$(VERSION)\" \
	-DNSBOX_LIBDIR=\"$(LIBDIR)\" $(PKG_CFLAGS) $(OCI_CFLAGS) $(FUZZ_SAN)
FUZZ_OBJS := $(OCI_SRCS:%.c=build/fuzz/obj/%.o) $(SO_SHARED:%.c=build/fuzz/obj/%.o) \
	build/fuzz/obj/tests/fuzz/fuzz_common.o

build/fuzz/obj/%.o: %.c $(wildcard */*.h runtime/base/*.h tests/fuzz/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

build/fuzz/fuzz_load_%: build/fuzz/obj/tests/fuzz/fuzz_load_%.o $(FUZZ_OBJS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(OCI_LIBS) $(PKG_LIBS) \
		$(shell pkg-config --libs zlib)

tests/fuzz/corpus/.stamp: tests/fuzz/make-corpus.py
	python3 tests/fuzz/make-corpus.py tests/fuzz/corpus
	@touch $@

# The objects named, so that make keeps them (not intermediate files).
fuzz-build: $(FUZZ_OBJS) $(FUZZ_HARNESSES:%=build/fuzz/obj/tests/fuzz/fuzz_load_%.o) \
	$(FUZZ_HARNESSES:%=build/fuzz/fuzz_load_%) tests/fuzz/corpus/.stamp

fuzz: fuzz-build
	FUZZ_USER=$(FUZZ_USER) sh tests/fuzz/run-fuzz.sh build/fuzz tests/fuzz/corpus \
		$(FUZZ_SECONDS) $(FUZZ_HARNESSES)

# The parsers of what users and images supply (seccomp and agent profiles,
# config.json, references): pure functions, so the harness runs as anyone.
FUZZ_PARSER_SRCS := runtime/spec.c runtime/hooks.c runtime/seccomp_compile.c cli/profile.c cli/limits.c \
	cli/net_mode.c oci/ref.c oci/digest.c proxy/policy.c proxy/http.c proxy/socks.c \
	$(wildcard runtime/base/*.c)
build/fuzz/obj/embed.o: build/embed.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

build/fuzz/fuzz_parsers: build/fuzz/obj/tests/fuzz/fuzz_parsers.o \
		$(FUZZ_PARSER_SRCS:%.c=build/fuzz/obj/%.o) build/fuzz/obj/embed.o
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(OCI_LIBS) $(PKG_LIBS) \
		$(SECCOMP_LIBS) -ldl

fuzz-parsers: build/fuzz/fuzz_parsers $(FUZZ_PARSER_SRCS:%.c=build/fuzz/obj/%.o) \
		build/fuzz/obj/tests/fuzz/fuzz_parsers.o
	sh tests/fuzz/parser-seeds.sh build/fuzz/parsers-seeds
	mkdir -p build/fuzz/corpus/parsers build/fuzz/artifacts/parsers
	build/fuzz/fuzz_parsers -max_total_time=$(FUZZ_SECONDS) -timeout=25 \
		-max_len=65536 -print_final_stats=1 \
		-artifact_prefix=build/fuzz/artifacts/parsers/ \
		build/fuzz/corpus/parsers build/fuzz/parsers-seeds

.PHONY: fuzz fuzz-build fuzz-parsers
