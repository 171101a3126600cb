# hypura — plain Makefile.
#   make                 the CPU engine: build/hypura, build/libhypura.a, build/libhypura.so
#   make test            build and run every test (tests/run.sh prints "N passed, N failed")
#   make demo            install missing Debian packages (as root), build, run the streaming demo
#   make kbench, make bench-tok   kernel and tokenizer benchmarks (README.md: Benchmarks)
#   make install         the CLI, libhypura.so/.a, hypura.h, hypura.pc, hypura.1 under
#                        $(DESTDIR)$(PREFIX) (PREFIX=/usr/local); make uninstall removes them
# Switches (an unknown value is an error):
#   SANITIZE=address|undefined|thread|address,undefined   NATIVE=1   CUDA=1   DEBUG=1
#   URING=0 (no io_uring even where liburing is installed)
# Every source file under src/ is part of libhypura; tests/test_*.c are test programs;
# tools/hypura/*.c is the CLI, compiled with -Iinclude alone (it sees hypura.h, nothing of
# src/) and linked with the public libhypura.a, where only hy_* symbols are global. Files
# named *_avx2.c / *_avx512.c are compiled with those instruction sets and only called
# after a runtime CPU check; *_neon.c only on arm64.

CC      ?= cc
comma   := ,
SANITIZE ?=
NATIVE  ?= 0
CUDA    ?= 0
DEBUG   ?= 0
URING   ?= 1

ARCH := $(shell $(CC) -dumpmachine | cut -d- -f1)

ifneq ($(filter-out 0 1,$(NATIVE) $(CUDA) $(DEBUG) $(URING)),)
$(error NATIVE, CUDA, DEBUG and URING take 0 or 1)
endif

OPT := -O2
ifeq ($(DEBUG),1)
OPT := -O0 -g3
endif
# an undeclared function is an error: C would assume it returns int (and cut a pointer)
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE $(OPT) -g -Wall -Wextra -Wshadow -Wno-unused-parameter \
               -Wstrict-prototypes -Wmissing-prototypes -Werror=implicit-function-declaration \
               -fno-strict-aliasing -pthread \
               -Iinclude
LDLIBS := -lm -pthread
# what a program linking the static libhypura.a needs besides it (hypura.pc): libraries
# with a pkg-config file go in Requires.private, the others in Libs.private
PC_REQUIRES :=
PC_LIBS := -lm -pthread

BUILD := build
ifneq ($(SANITIZE),)
  ifeq ($(filter $(SANITIZE),address undefined thread address,undefined undefined,address),)
    $(error SANITIZE must be address, undefined, thread or address,undefined (got '$(SANITIZE)'))
  endif
  CFLAGS_BASE += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=$(SANITIZE)
  BUILD := build/san-$(subst $(comma),-,$(SANITIZE))
endif
ifeq ($(NATIVE),1)
  CFLAGS_BASE += -march=native
  BUILD := $(BUILD)/native
endif
ifeq ($(URING),0)
  BUILD := $(BUILD)/nouring
endif
ifneq ($(ARCH),x86_64)
  BUILD := $(BUILD)/$(ARCH)
endif

# --- optional dependencies, each announced -------------------------------------------
have = $(shell pkg-config --exists $(1) 2>/dev/null && echo 1)
HAVE_CJSON := $(shell test -f /usr/include/cjson/cJSON.h && echo 1)
HAVE_CJSON_PC := $(call have,libcjson)
HAVE_URING := $(if $(filter 1,$(URING)),$(call have,liburing))
HAVE_MHD   := $(call have,libmicrohttpd)
HAVE_NVCC  := $(shell command -v nvcc >/dev/null 2>&1 && echo 1)

# deps and demo install it first; every other goal compiles against it
ifneq ($(filter-out deps demo clean uninstall,$(or $(MAKECMDGOALS),all)),)
ifneq ($(HAVE_CJSON),1)
$(error cJSON is missing: apt-get install libcjson-dev (or run 'make deps' as root))
endif
endif
LDLIBS += -lcjson
ifeq ($(HAVE_CJSON_PC),1)
  PC_REQUIRES += libcjson
else
  PC_LIBS += -lcjson
endif
ifeq ($(HAVE_URING),1)
  CFLAGS_BASE += -DHYPURA_URING=1
  LDLIBS += -luring
  PC_REQUIRES += liburing
endif
ifeq ($(HAVE_MHD),1)
  CFLAGS_BASE += -DHYPURA_MHD=1
  LDLIBS += -lmicrohttpd
endif
ifeq ($(CUDA),1)
  ifneq ($(HAVE_NVCC),1)
    $(error CUDA=1 but nvcc is not on PATH)
  endif
  CFLAGS_BASE += -DHYPURA_CUDA=1
  # src/cuda/*.cu are compiled by nvcc into libhypura; a separate build folder keeps
  # objects built with and without HYPURA_CUDA apart
  NVCC := nvcc
  CUDA_HOME ?= $(patsubst %/bin/,%,$(dir $(shell command -v nvcc)))
  CUDA_ARCH ?= sm_90
  NVCCFLAGS := -std=c++17 $(OPT) -arch=$(CUDA_ARCH) -Iinclude -Isrc -DHYPURA_CUDA=1 -D_GNU_SOURCE \
               -Xcompiler -Wall,-Wextra,-Wno-unused-parameter,-fPIC,-fvisibility=hidden
  LDLIBS += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudart -lstdc++
  PC_LIBS += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudart -lstdc++
  BUILD := $(if $(filter build,$(BUILD)),build/cuda,$(BUILD)-cuda)
endif

CFLAGS := $(CFLAGS_BASE) $(EXTRA_CFLAGS)
# The library's objects: position-independent, one set for libhypura.a and libhypura.so
# (-fPIC changes no instruction of the kernels against gcc's default -fPIE: the objects'
# disassembly is identical but for GOT loads of extern data, which ld relaxes in a
# static link), and hidden: only what include/hypura.h marks HY_API is exported.
LIB_CFLAGS := $(CFLAGS) -Isrc -fPIC -fvisibility=hidden
# tests and benchmarks reach inside the library
INTERNAL_CFLAGS := $(CFLAGS) -Isrc

# --- libraries, install ----------------------------------------------------------------
VERSION := 0.1.0
SOVERSION := 0
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
INSTALL ?= install
OBJCOPY ?= objcopy
LIBS := $(BUILD)/libhypura.a $(BUILD)/libhypura.so.$(SOVERSION) $(BUILD)/libhypura.so

# --- sources ---------------------------------------------------------------------------
LIB_SRC  := $(sort $(wildcard src/*/*.c src/*/*/*.c))
ifeq ($(ARCH),x86_64)
  LIB_SRC := $(filter-out %_neon.c,$(LIB_SRC))
else ifeq ($(ARCH),aarch64)
  LIB_SRC := $(filter-out %_avx2.c %_avx512.c,$(LIB_SRC))
else
  LIB_SRC := $(filter-out %_neon.c %_avx2.c %_avx512.c,$(LIB_SRC))
endif
ifneq ($(HAVE_MHD),1)
  LIB_SRC := $(filter-out src/server/%,$(LIB_SRC))
endif
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
# libmicrohttpd is linked where it is installed: the server (src/server) uses it. It goes
# in Libs.private, not Requires.private: its own .pc file lists GnuTLS's static
# dependencies (-lunistring, -lp11-kit, ...), which a system with the shared libraries
# alone cannot link, and the shared libmicrohttpd brings them in anyway.
PC_LIBS += $(if $(filter src/server/%,$(LIB_SRC)),-lmicrohttpd)
ifeq ($(CUDA),1)
  CUDA_SRC := $(sort $(wildcard src/cuda/*.cu))
  LIB_OBJ  += $(CUDA_SRC:%.cu=$(BUILD)/%.cu.o)
endif
CLI_SRC  := $(sort $(wildcard tools/hypura/*.c))
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_COMMON := $(filter-out tests/test_%,$(wildcard tests/*.c))
TEST_COMMON_OBJ := $(TEST_COMMON:%.c=$(BUILD)/%.o)

AVX2_FLAGS   := -mavx2 -mfma -mf16c -mbmi2
AVX512_FLAGS := $(AVX2_FLAGS) -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mavx512bf16

# keep objects make would otherwise treat as intermediate
.SECONDARY:

.PHONY: all test demo deps clean info kbench bench-tok test-arm install uninstall FORCE
all: info $(BUILD)/hypura $(LIBS)

info:
	@printf 'hypura build (%s, %s)\n' '$(ARCH)' '$(BUILD)'
	@printf '  %s cJSON\n' '$(if $(HAVE_CJSON),✓,✗)'
	@printf '  %s io_uring (liburing)%s\n' '$(if $(HAVE_URING),✓,✗)' '$(if $(HAVE_URING),, — pread threads are used instead)'
	@printf '  %s HTTP server (libmicrohttpd)\n' '$(if $(HAVE_MHD),✓,✗)'
	@printf '  %s CUDA%s\n' '$(if $(filter 1,$(CUDA)),✓,✗)' '$(if $(filter 1,$(CUDA)),, (CUDA=1 to build the GPU tier))'
	@printf '  %s sanitizer %s\n' '$(if $(SANITIZE),✓,✗)' '$(SANITIZE)'
	@printf '  %s -march=native\n' '$(if $(filter 1,$(NATIVE)),✓,✗)'

# Three libraries from the same objects:
#   libhypura-internal.a  every object as compiled, every non-static symbol global: for the
#                         tests and benchmarks, which call internal functions
#   libhypura.a           the public static library: one relocatable object (ld -r), in
#                         which every global but hy_* is made local, so a program linking
#                         it meets no gguf_free or tokenizer_load of ours (references to
#                         libc, cJSON, liburing stay undefined: objcopy localizes
#                         definitions only)
#   libhypura.so.0        the shared library: hidden visibility exports only HY_API
$(BUILD)/libhypura-internal.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/libhypura.o: $(LIB_OBJ)
	$(LD) -r -o $@.tmp $^
	$(OBJCOPY) -w --keep-global-symbol='hy_*' $@.tmp $@
	@rm -f $@.tmp

$(BUILD)/libhypura.a: $(BUILD)/libhypura.o
	@rm -f $@
	$(AR) rcs $@ $<

$(BUILD)/libhypura.so.$(SOVERSION): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libhypura.so.$(SOVERSION) -Wl,--no-undefined $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libhypura.so: $(BUILD)/libhypura.so.$(SOVERSION)
	ln -sf libhypura.so.$(SOVERSION) $@

# The compiler flags, rewritten only when they change: objects built with other flags
# (before -fPIC and hidden visibility, say, or a CLI object built with -Isrc) are rebuilt
# rather than linked into a shared library they cannot go into.
FLAGS_LINE := $(CC) | $(LIB_CFLAGS) | $(CFLAGS) | $(INTERNAL_CFLAGS) | $(NVCCFLAGS)
ifneq ($(strip $(FLAGS_LINE)),$(strip $(shell cat $(BUILD)/flags 2>/dev/null)))
$(BUILD)/flags: FORCE
endif
$(BUILD)/flags:
	@mkdir -p $(dir $@)
	@printf '%s\n' '$(FLAGS_LINE)' > $@
$(LIB_OBJ) $(CLI_OBJ) $(TEST_COMMON_OBJ) $(TEST_BIN) $(BUILD)/kbench $(BUILD)/bench/tokbench: $(BUILD)/flags

$(BUILD)/hypura: $(CLI_OBJ) $(BUILD)/libhypura.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libhypura.a $(LDLIBS)

$(BUILD)/src/%_avx2.o: src/%_avx2.c
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) $(AVX2_FLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/src/%_avx512.o: src/%_avx512.c
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) $(AVX512_FLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/src/%.cu.o: src/%.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -MD -MF $(@:.o=.d) -c -o $@ $<

$(BUILD)/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(LIB_CFLAGS) -MMD -MP -c -o $@ $<

# the CLI: include/ only
$(BUILD)/tools/%.o: tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(INTERNAL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: tests/%.c $(TEST_COMMON_OBJ) $(BUILD)/libhypura-internal.a
	@mkdir -p $(dir $@)
	$(CC) $(INTERNAL_CFLAGS) -Itests -MMD -MP -o $@ $< $(TEST_COMMON_OBJ) $(BUILD)/libhypura-internal.a $(LDFLAGS) $(LDLIBS)

# kernel benchmark (not part of make test): build/kbench --help
kbench: $(BUILD)/kbench
$(BUILD)/kbench: bench/kbench.c $(BUILD)/libhypura-internal.a
	@mkdir -p $(dir $@)
	$(CC) $(INTERNAL_CFLAGS) -MMD -MP -o $@ $< $(BUILD)/libhypura-internal.a $(LDFLAGS) $(LDLIBS)

# arm64: cross-compile only what test_quant needs (static, no cJSON/liburing) and run it
# under qemu-aarch64, once as plain NEON and once with the dot-product extension.
ARM_CC ?= aarch64-linux-gnu-gcc
ARM_QEMU ?= qemu-aarch64
ARM_SRC := $(filter-out %_avx2.c %_avx512.c,$(sort $(wildcard src/quant/*.c))) \
           $(sort $(wildcard src/util/*.c)) tests/test.c tests/test_quant.c
ARM_CFLAGS := -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Wshadow -Wno-unused-parameter \
              -Wstrict-prototypes -Wmissing-prototypes -Werror=implicit-function-declaration \
              -fno-strict-aliasing -pthread \
              -Iinclude -Isrc -Itests
ARM_VARIANTS := neon:-march=armv8-a dotprod:-march=armv8.2-a+dotprod
test-arm:
	@mkdir -p build/arm
	@set -e; for v in $(ARM_VARIANTS); do \
	  name=$${v%%:*}; flags=$${v#*:}; \
	  echo "$(ARM_CC) $$flags ... -static -o build/arm/test_quant_$$name"; \
	  $(ARM_CC) $(ARM_CFLAGS) $$flags -static -o build/arm/test_quant_$$name $(ARM_SRC) -lm; \
	  echo "== test_quant ($$name, $(ARM_QEMU))"; \
	  rc=0; $(ARM_QEMU) build/arm/test_quant_$$name > build/arm/test_quant_$$name.log 2>&1 || rc=$$?; \
	  sed 's/^/   /' build/arm/test_quant_$$name.log; \
	  if [ $$rc != 0 ]; then echo "test_quant ($$name) failed: exit status $$rc"; exit 1; fi; \
	done

# The install test: tests/install.sh, run with this build's folder and variables (so the
# make install it runs compiles nothing again)
shq = '$(subst ','\'',$(1))'
INSTALL_TEST := exec bash $(call shq,$(abspath tests/install.sh)) $(call shq,$(BUILD)) \
  SANITIZE=$(call shq,$(SANITIZE)) NATIVE=$(NATIVE) CUDA=$(CUDA) DEBUG=$(DEBUG) URING=$(URING) \
  CC=$(call shq,$(CC)) EXTRA_CFLAGS=$(call shq,$(EXTRA_CFLAGS))
$(BUILD)/tests/test_install: tests/install.sh $(BUILD)/flags $(BUILD)/libhypura-internal.a
	@mkdir -p $(dir $@)
	@printf '%s\n' '#!/bin/sh' '# written by the Makefile: tests/install.sh for $(BUILD)' \
	  $(call shq,$(INSTALL_TEST)) > $@
	@chmod +x $@

# The source tree's size rules (tests/sizes.sh), run as a test program
$(BUILD)/tests/test_sizes: tests/sizes.sh
	@mkdir -p $(dir $@)
	@printf '%s\n' '#!/bin/sh' 'exec bash $(call shq,$(abspath tests/sizes.sh))' > $@
	@chmod +x $@

# make test T=test_gguf runs one test program
T ?=
test: $(BUILD)/hypura $(TEST_BIN) $(LIBS) $(BUILD)/tests/test_install $(BUILD)/tests/test_sizes
	@HYPURA_BIN=$(abspath $(BUILD)/hypura) tests/run.sh $(BUILD)/tests $(T)

# Tokenizer benchmark: a 10 MiB text (bench/make_tok_text.sh) through each vocabulary of
# ../shared/vocab, medians in MB/s (bench/tokenize.sh).
$(BUILD)/bench/tokbench: bench/tokbench.c $(BUILD)/libhypura-internal.a
	@mkdir -p $(dir $@)
	$(CC) $(INTERNAL_CFLAGS) -MMD -MP -o $@ $< $(BUILD)/libhypura-internal.a $(LDFLAGS) $(LDLIBS)

bench-tok: $(BUILD)/bench/tokbench
	@bash bench/tokenize.sh $(BUILD)/bench/tokbench

# make install [PREFIX=/usr/local] [DESTDIR=...]: what make builds (nothing is rebuilt in
# another folder), hypura.pc written for PREFIX. The libraries are installed as built:
# with SANITIZE set they need the sanitizer runtime in the programs linking them.
PC_LIBDIR := $(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))
PC_INCLUDEDIR := $(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))
install: $(BUILD)/hypura $(LIBS)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(PC_LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(PC_INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@REQUIRES_PRIVATE@|$(strip $(PC_REQUIRES))|' -e 's|@LIBS_PRIVATE@|$(strip $(PC_LIBS))|' \
	    hypura.pc.in > $(BUILD)/hypura.pc
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
	    $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(MANDIR)/man1
	$(INSTALL) -m 755 $(BUILD)/hypura $(DESTDIR)$(BINDIR)/hypura
	$(INSTALL) -m 755 $(BUILD)/libhypura.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libhypura.so.$(SOVERSION)
	ln -sf libhypura.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libhypura.so
	$(INSTALL) -m 644 $(BUILD)/libhypura.a $(DESTDIR)$(LIBDIR)/libhypura.a
	$(INSTALL) -m 644 include/hypura.h $(DESTDIR)$(INCLUDEDIR)/hypura.h
	$(INSTALL) -m 644 $(BUILD)/hypura.pc $(DESTDIR)$(PKGCONFIGDIR)/hypura.pc
	$(INSTALL) -m 644 man/hypura.1 $(DESTDIR)$(MANDIR)/man1/hypura.1

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/hypura $(DESTDIR)$(LIBDIR)/libhypura.so.$(SOVERSION) \
	      $(DESTDIR)$(LIBDIR)/libhypura.so $(DESTDIR)$(LIBDIR)/libhypura.a \
	      $(DESTDIR)$(INCLUDEDIR)/hypura.h $(DESTDIR)$(PKGCONFIGDIR)/hypura.pc \
	      $(DESTDIR)$(MANDIR)/man1/hypura.1

deps:
	@bash tools/deps.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@bash bench/demo.sh $(BUILD)/hypura

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_BIN:=.d) $(TEST_COMMON_OBJ:.o=.d) $(BUILD)/kbench.d \
         $(BUILD)/bench/tokbench.d
