# nsbox — build, test, bench, install.  Every library comes through pkg-config.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DESTDIR ?=

CC ?= cc
PKGS := jansson libcap libseccomp mount
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS := $(shell pkg-config --libs $(PKGS))
WERROR ?=
CFLAGS ?= -O2 -g
VERSION := 0.1.0
CFLAGS += -DNSBOX_VERSION=\"$(VERSION)\" -std=gnu17 -Wall -Wextra $(WERROR) -I. $(PKG_CFLAGS)
LDFLAGS += -Wl,--as-needed
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer

SRCS := $(wildcard runtime/base/*.c runtime/*.c oci/*.c cli/*.c)
LIB_SRCS := $(filter-out cli/main.c,$(SRCS))
OBJS := $(SRCS:%.c=build/%.o) build/embed.o
LIB_OBJS := $(LIB_SRCS:%.c=build/%.o) build/embed.o
SAN_OBJS := $(LIB_SRCS:%.c=build/san/%.o) build/san/embed.o
PROFILES := $(wildcard profiles/agents/*.json profiles/seccomp/*.json)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=build/tests/%)
MANS := $(wildcard man/*.1 man/*.5)

all: nsbox

nsbox: $(OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

build/%.o: %.c $(wildcard */*.h runtime/base/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

build/san/%.o: %.c $(wildcard */*.h runtime/base/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN) -c -o $@ $<

# Profiles are data, embedded in the binary so the default works anywhere.
build/embed.c: $(PROFILES) cli/gen-embed.sh
	@mkdir -p build
	sh cli/gen-embed.sh $(PROFILES) > $@

build/embed.o: build/embed.c
	$(CC) $(CFLAGS) -c -o $@ $<

build/san/embed.o: build/embed.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN) -c -o $@ $<

build/tests/%: tests/unit/%.c $(SAN_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN) -o $@ $< $(SAN_OBJS) $(PKG_LIBS) $(shell pkg-config --libs cmocka)

deps:
	@sh tests/deps.sh

check: nsbox $(UNIT_BINS)
	@sh tests/check.sh $(UNIT_BINS)

unit: $(UNIT_BINS)
	@sh tests/check.sh --unit-only $(UNIT_BINS)

bench: nsbox
	@sh bench/bench.sh

install: nsbox
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	install -m 0755 nsbox $(DESTDIR)$(BINDIR)/nsbox
	for m in $(filter %.1,$(MANS)); do install -m 0644 $$m $(DESTDIR)$(MANDIR)/man1/; done
	for m in $(filter %.5,$(MANS)); do install -m 0644 $$m $(DESTDIR)$(MANDIR)/man5/; done

format:
	clang-format -i $(SRCS) $(wildcard */*.h runtime/base/*.h tests/unit/*.c)

clean:
	rm -rf build nsbox

.PHONY: all deps check unit bench install format clean
.SECONDARY:
