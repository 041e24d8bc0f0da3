# vae — make, make test, make test SAN=1, make demo, make bench, make install
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

CFLAGS  := $(WARN) $(OPT) $(OMP) $(EXTRA_CFLAGS)
LDLIBS  := -lm

LIB_SRC   := vae.c mnist.c
LIB_HDR   := vae.h vae_backend.h rng.h mnist.h
TOOL_SRC  := $(wildcard tools/*.c)
TESTS     := $(patsubst tests/%.c,$(B)/%,$(wildcard tests/test_*.c))

.PHONY: all test demo bench install clean features

all: features vae

features:
	@echo "vae: CC=$(CC) OpenMP=$(if $(OMP),yes,no) native=$(if $(findstring native,$(OPT)),yes,no) build=$(B)"

vae: $(B)/vae
	cp $< $@

$(B)/vae: $(TOOL_SRC) $(LIB_SRC) $(LIB_HDR) $(wildcard tools/*.h) | $(B)
	$(CC) $(CFLAGS) -I. -o $@ $(TOOL_SRC) $(LIB_SRC) $(LDLIBS)

# Each test is one translation unit that includes the library sources it
# needs, so that it can reach their internals.
$(B)/test_%: tests/test_%.c tests/check.h $(LIB_SRC) $(LIB_HDR) | $(B)
	$(CC) $(CFLAGS) -I. -o $@ $< $(LDLIBS)

$(B):
	mkdir -p $@

test: features $(TESTS) $(B)/vae
	@sh tests/run.sh $(B)

demo: all
	./vae train --train data/mnist/t10k-images-idx3-ubyte.gz --holdout 1000 \
	    --epochs 30 --threads 1 --out out/demo

bench: all
	@BENCH_CFLAGS="$(filter -march=% -mprefer-vector-width=% %-mbranches-within-32B-boundaries,$(OPT))" sh bench/run.sh

install: vae
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include
	install -m 755 vae $(DESTDIR)$(PREFIX)/bin/vae
	install -m 644 $(LIB_HDR) $(DESTDIR)$(PREFIX)/include/

clean:
	rm -rf build vae
