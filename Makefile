# Makefile — promshim: build/libpromshim.so, tests, demo, bench, fuzz.
# Long shell logic lives in scripts/.
CC      ?= cc
OPT     ?= -O2
# Link-time optimisation with gcc: the hooks, the connection glue and the
# tracker are three objects on one hot path (clang builds go without).
LTO     ?= $(if $(findstring clang,$(CC)),,-flto=auto)
CFLAGS  := -std=gnu11 -Wall -Wextra -Werror -g $(OPT) -D_GNU_SOURCE -fPIC \
           -fvisibility=hidden -fno-plt -Icore $(LTO) $(SAN)
LDLIBS  := -ldl -lpthread -lz
B       := build
PREFIX  ?= /usr/local

CORE_SRC := $(wildcard core/*.c)
SHIM_SRC := $(wildcard shim/*.c)
TEST_SRC := $(wildcard tests/core/*.c)
CORE_OBJ := $(CORE_SRC:%.c=$(B)/%.o)
SHIM_OBJ := $(SHIM_SRC:%.c=$(B)/%.o)
HDRS     := $(wildcard core/*.h shim/*.h)

.PHONY: all test demo bench fuzz soak fresh-test install clean deps-%
all: $(B)/libpromshim.so $(B)/promshim-check

$(B)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(B)/libpromshim.so: $(CORE_OBJ) $(SHIM_OBJ) shim/exports.map
	$(CC) $(OPT) $(LTO) $(SAN) -shared -Wl,--version-script=shim/exports.map -Wl,-z,now -o $@ \
		$(CORE_OBJ) $(SHIM_OBJ) $(LDLIBS)

# `promshim --check` validates with the library's own parser.
$(B)/promshim-check: tools/promshim-check.c $(B)/core/config.o $(B)/core/route.o $(B)/shim/cfgfile.o $(HDRS)
	$(CC) $(CFLAGS) -Ishim -o $@ $< $(B)/core/config.o $(B)/core/route.o $(B)/shim/cfgfile.o

$(B)/test_core: $(CORE_OBJ) $(TEST_SRC) $(HDRS)
	$(CC) $(CFLAGS) -Itests -o $@ $(TEST_SRC) $(CORE_OBJ) -lcriterion -lhttp_parser $(LDLIBS)

# libFuzzer targets: tests/fuzz/fuzz_NAME.c against all of core/.
$(B)/fuzz_%: tests/fuzz/fuzz_%.c $(CORE_SRC) $(HDRS)
	@mkdir -p $(B)
	clang -g -O1 -D_GNU_SOURCE -Icore -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -o $@ $< $(CORE_SRC) -lz -lpthread

deps-%:
	scripts/install-deps $*

test: deps-test
	$(MAKE) all $(B)/test_core
	scripts/run-tests

demo: deps-demo
	$(MAKE) all
	scripts/demo

bench: deps-bench
	scripts/bench

fuzz: deps-test
	scripts/fuzz $(FUZZ_SECONDS)

soak: deps-test
	scripts/soak

# make test on a minimal Debian system that has none of the packages.
fresh-test:
	scripts/fresh-test $(FRESH_DIR)

install: all
	install -D -m 755 $(B)/libpromshim.so $(DESTDIR)$(PREFIX)/lib/promshim/libpromshim.so
	install -D -m 755 $(B)/promshim-check $(DESTDIR)$(PREFIX)/lib/promshim/promshim-check
	sed 's|^PROMSHIM_LIB_DEFAULT=.*|PROMSHIM_LIB_DEFAULT=$(PREFIX)/lib/promshim/libpromshim.so|' \
		scripts/promshim >$(B)/promshim.installed
	install -D -m 755 $(B)/promshim.installed $(DESTDIR)$(PREFIX)/bin/promshim

clean:
	rm -rf $(B)
