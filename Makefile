# crmgate - build, test and run the CRM mail gateway.
#
# Targets: all (default), test, bench, asan, valgrind, lint, fuzz, run,
# golden-update,
# install (PREFIX, DESTDIR), clean. Everything is built under build/.
# `make run` and `make test` install missing Debian packages themselves
# (scripts/deps.sh) and start a private stack under var/.

PREFIX   ?= /usr/local
DESTDIR  ?=
SYSCONFDIR ?= /etc
BUILD    ?= build
VERSION  := 0.1.0

CC       ?= cc
# pkg-config modules the build needs (libmilter and libcsv have none: they
# are linked by name; libmicrohttpd by name into crmgate-web only).
PKGS     := gmime-3.0 glib-2.0 libpq libconfuse jansson libsodium libxml-2.0 \
            libcurl

# Goals that must work before the packages are installed (deps, clean) or
# that install them first and then build in a sub-make (test, run, bench,
# asan, fuzz): no pkg-config check for those.
NOPKG_GOALS := deps clean test run bench asan fuzz
ifneq ($(filter-out $(NOPKG_GOALS),$(or $(MAKECMDGOALS),all)),)
  PKG_MISSING := $(strip $(foreach p,$(PKGS),$(if $(shell pkg-config --exists $(p) && echo y),,$(p))))
  ifneq ($(PKG_MISSING),)
    $(error pkg-config module(s) missing: $(PKG_MISSING); install them with 'make deps')
  endif
  PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
  PKG_LIBS   := $(shell pkg-config --libs $(PKGS))
endif

WARN     := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wswitch-enum -Wvla
# OPT is the optimisation/instrumentation part (make asan and fuzz set it);
# a CFLAGS given by the user replaces it, never the required flags below.
OPT      ?= -O2 -g
CFLAGS   ?= $(OPT)
override CFLAGS += -std=c11 -D_GNU_SOURCE $(WARN) -Iinclude $(PKG_CFLAGS) \
            -DCRM_VERSION='"$(VERSION)"' \
            -DCRM_SYSCONFDIR='"$(SYSCONFDIR)"' -MMD -MP
LDFLAGS  ?=
# libphonenumber is C++ (core/phone.cc, the one C++ file): its library
# and the C++ runtime are linked into every program.
LIBS     := $(PKG_LIBS) -lcsv -lphonenumber -lstdc++ -lpthread
# The C++ compiler matches CC (clang for make asan and fuzz).
CXX      := $(if $(findstring clang,$(CC)),clang++,g++)
CXXFLAGS := $(OPT) -std=c++17 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude -MMD -MP
# UBSan's vptr check needs its C++ runtime, which the C linker driver (make
# asan, make fuzz link with clang) leaves out: off for the C++ file.
ifneq ($(findstring undefined,$(OPT)),)
  CXXFLAGS += -fno-sanitize=vptr
endif

CORE_SRC := $(wildcard core/*.c)
CORE_CXX_SRC := $(wildcard core/*.cc)
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o) $(CORE_CXX_SRC:%.cc=$(BUILD)/%.o) \
            $(BUILD)/gen/migrations.o
SQL_SRC  := $(sort $(wildcard sql/[0-9]*.sql))
MILTER_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard milter/*.c))
CLI_OBJ  := $(patsubst %.c,$(BUILD)/%.o,$(wildcard cli/*.c))
WEB_OBJ  := $(patsubst %.c,$(BUILD)/%.o,$(wildcard web/*.c))
WORKER_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard worker/*.c))
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
LIBCORE  := $(BUILD)/libcrmgate.a

BINS := $(BUILD)/bin/crmgate-milter $(BUILD)/bin/crmgate $(BUILD)/bin/crmgate-web \
        $(BUILD)/tests/null-milter $(if $(WORKER_OBJ),$(BUILD)/bin/crmgate-worker) \
        $(if $(wildcard tests/bench/smtp_blast.c),$(BUILD)/tests/smtp-blast)

.PHONY: all deps test unit bench asan valgrind lint fuzz run install clean \
        golden-update
# Keep intermediate objects (test and fuzz objects are built by chained rules).
.SECONDARY:

all: $(BINS) $(UNIT_BIN)

deps:
	@scripts/deps.sh

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(BUILD)/gen/migrations.c: $(SQL_SRC) scripts/embed-sql.sh
	@mkdir -p $(dir $@)
	scripts/embed-sql.sh $@ $(SQL_SRC)

$(BUILD)/gen/migrations.o: $(BUILD)/gen/migrations.c
	$(CC) $(CFLAGS) -Wno-overlength-strings -c $< -o $@

$(LIBCORE): $(CORE_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/bin/crmgate-milter: $(MILTER_OBJ) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lmilter $(LIBS)

$(BUILD)/bin/crmgate: $(CLI_OBJ) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/bin/crmgate-web: $(WEB_OBJ) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lmicrohttpd $(LIBS)

$(BUILD)/bin/crmgate-worker: $(WORKER_OBJ) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/null-milter: $(BUILD)/tests/bench/null_milter.o $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lmilter $(LIBS)

# SMTP sending benchmark client (tests/bench/smtp.sh).
$(BUILD)/tests/smtp-blast: $(BUILD)/tests/bench/smtp_blast.o $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# The whole suite: unit, golden, end to end through the private Postfix and
# PostgreSQL, miltertest scripts, fault injection. Last line: N passed, N
# failed, N skipped.
test: deps
	@$(MAKE) --no-print-directory all
	@tests/run-all.sh

unit: all
	@tests/run-all.sh unit

# Rewrites tests/golden/<folder>/<name>.json from the corpus (what the
# golden test compares with): after a deliberate parser change, run it,
# review `git diff tests/golden`, commit. The test itself never writes them.
CRMGATE_CORPUS ?= ../shared/corpus
golden-update: $(BUILD)/tests/golden_update
	$(BUILD)/tests/golden_update "$(CRMGATE_CORPUS)" tests/golden

bench: deps
	@$(MAKE) --no-print-directory all
	@tests/bench/run.sh

# Address and undefined-behaviour sanitizers over the whole suite.
asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan CC=clang \
	    OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	    LDFLAGS="-fsanitize=address,undefined" all
	@CRMGATE_BUILD=build/asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	    tests/run-all.sh

valgrind: all
	@CRMGATE_VALGRIND=1 tests/run-all.sh unit

lint: all
	@tests/lint.sh

FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/bin/%)
FUZZ_FLAGS := -O1 -g -fsanitize=fuzzer-no-link,address,undefined

build/fuzz/bin/%: tests/fuzz/%.c
	@$(MAKE) --no-print-directory BUILD=build/fuzz CC=clang OPT="$(FUZZ_FLAGS)" build/fuzz/libcrmgate.a
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -fsanitize=fuzzer -std=c11 -D_GNU_SOURCE -Iinclude $(PKG_CFLAGS) \
	    -o $@ $< build/fuzz/libcrmgate.a $(LIBS)

fuzz: deps
	@$(MAKE) --no-print-directory $(FUZZ_BIN)
	@tests/fuzz/run.sh $(FUZZ_BIN)

run: deps
	@$(MAKE) --no-print-directory all
	@scripts/run

install: $(BUILD)/bin/crmgate-milter $(BUILD)/bin/crmgate $(BUILD)/bin/crmgate-web \
	    $(BUILD)/bin/crmgate-worker
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(SYSCONFDIR)/crmgate
	install -m 0755 $(BUILD)/bin/crmgate-milter $(BUILD)/bin/crmgate $(BUILD)/bin/crmgate-web \
	    $(BUILD)/bin/crmgate-worker $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 etc/freemail-domains.txt $(DESTDIR)$(SYSCONFDIR)/crmgate/
	install -d -m 0750 $(DESTDIR)/var/spool/crmgate
	test -e $(DESTDIR)$(SYSCONFDIR)/crmgate/crmgate.conf || \
	    sed 's|^\( *spool_dir = \).*|\1"/var/spool/crmgate"|' etc/crmgate.conf \
	    >$(DESTDIR)$(SYSCONFDIR)/crmgate/crmgate.conf

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
