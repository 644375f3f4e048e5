# ml-connector build. `make` builds everything into build/; `make SAN=1` builds the
# AddressSanitizer/UBSan variant into build/asan. See README.md for the targets.

SAN       ?=
ifeq ($(SAN),1)
CC        := clang
B         ?= build/asan
SANFLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
OPT       := -O1 -g
JEMALLOC  := 0
else
CC        ?= cc
B         ?= build
SANFLAGS  :=
OPT       ?= -O2 -g
# jemalloc instead of glibc's malloc (JEMALLOC=0: glibc's): about a tenth more records/s in
# the benchmark (docs/benchmarks.md); the sanitizer build keeps ASan's allocator
JEMALLOC  ?= 1
endif
ifeq ($(JEMALLOC),1)
MALLOC_CFLAGS := -DMLC_JEMALLOC
MALLOC_LIBS   := -ljemalloc
endif

Q         ?= @
PKGS      := libzmq msgpack libcjson rocksdb libcurl libsodium libmicrohttpd
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS    += -std=gnu11 $(OPT) -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
             -D_GNU_SOURCE -MMD -MP -Icommon -Isim $(foreach p,$(PROCS),-I$(p)) -Isim/cloudsuite -Isim/salesforce $(PKG_CFLAGS) $(SANFLAGS) $(MALLOC_CFLAGS)
LDFLAGS   += $(SANFLAGS)
LDLIBS    += $(MALLOC_LIBS) $(PKG_LIBS) -lpthread -lm

PROCS     := extractor transformer loader replayer
COMMON_SRC := $(wildcard common/*.c)
COMMON_LIB := $(B)/lib/libmlc_common.a
SIM_SRC    := $(wildcard sim/*.c)
SIM_LIB    := $(B)/lib/libmlc_sim.a

# Each process: main.c is the binary, every other .c in its folder is a library that
# unit tests link too.
proc_lib_src = $(filter-out $(1)/main.c,$(wildcard $(1)/*.c))
PROC_LIBS  := $(foreach p,$(PROCS),$(B)/lib/libmlc_$(p).a)
PROC_BINS  := $(foreach p,$(PROCS),$(B)/bin/mlc-$(p))
SIM_BINS   := $(B)/bin/cloudsuite-sim $(B)/bin/salesforce-sim
TOOL_SRC   := $(wildcard tools/*.c)
TOOL_BINS  := $(patsubst tools/%.c,$(B)/bin/%,$(TOOL_SRC))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))

ALL_SRC    := $(COMMON_SRC) $(SIM_SRC) $(foreach p,$(PROCS),$(wildcard $(p)/*.c)) \
              $(wildcard sim/cloudsuite/*.c) $(wildcard sim/salesforce/*.c) $(UNIT_SRC) $(TOOL_SRC)

.SECONDARY:
.PHONY: test-compose fuzz
.PHONY: all build test test-unit test-integration demo deps bench clean format format-check asan
all build: $(PROC_BINS) $(SIM_BINS) $(TOOL_BINS) $(UNIT_BINS)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC $<"
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))

$(COMMON_LIB): $(call obj,$(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(SIM_LIB): $(call obj,$(SIM_SRC)) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $(call obj,$(SIM_SRC))

define PROC_RULES
$(B)/lib/libmlc_$(1).a: $(call obj,$(call proc_lib_src,$(1)))
	@mkdir -p $$(dir $$@)
	$$(Q)rm -f $$@ && ar rcs $$@ $$^
$(B)/bin/mlc-$(1): $(B)/obj/$(1)/main.o $(B)/lib/libmlc_$(1).a $(COMMON_LIB)
	@mkdir -p $$(dir $$@)
	@echo "LD $$@"
	$$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach p,$(PROCS),$(eval $(call PROC_RULES,$(p))))

# Simulators: like the processes, a library of modules (unit tests link it) and a main.
SIM_NAMES := cloudsuite:cssim salesforce:sfsim
define SIM_RULES
$(B)/lib/libmlc_$(2).a: $(call obj,$(filter-out sim/$(1)/$(2)_main.c,$(wildcard sim/$(1)/*.c)))
	@mkdir -p $$(dir $$@)
	$$(Q)rm -f $$@ && ar rcs $$@ $$^
$(B)/bin/$(1)-sim: $(B)/obj/sim/$(1)/$(2)_main.o $(B)/lib/libmlc_$(2).a $(SIM_LIB) $(COMMON_LIB)
	@mkdir -p $$(dir $$@)
	@echo "LD $$@"
	$$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach s,$(SIM_NAMES),$(eval $(call SIM_RULES,$(word 1,$(subst :, ,$(s))),$(word 2,$(subst :, ,$(s))))))
SIM_MOD_LIBS := $(B)/lib/libmlc_cssim.a $(B)/lib/libmlc_sfsim.a

$(B)/bin/%: $(B)/obj/tools/%.o $(SIM_LIB) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	@echo "LD $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Unit tests link every process library, so a test can reach any module.
$(B)/tests/%: $(B)/obj/tests/unit/%.o $(PROC_LIBS) $(SIM_MOD_LIBS) $(SIM_LIB) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	@echo "LD $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs cmocka)

deps:
	@scripts/install-deps.sh

asan:
	$(MAKE) SAN=1 all

# `make test`: dependencies, both builds, then every unit and integration test, plain and
# under ASan/UBSan. Ends with one line "N passed, M failed".
test: deps
	$(MAKE) all
	$(MAKE) SAN=1 all
	tests/run.sh

demo: deps
	$(MAKE) all
	scripts/demo.sh

bench: deps
	$(MAKE) all
	bench/run.sh

# Deployment test: builds the images with podman and runs compose.yaml (see tests/compose/).
test-compose: deps
	tests/compose/run.sh

# libFuzzer targets for every decoder (tests/fuzz/); FUZZ_SECONDS per target (default 60).
-include tests/fuzz/fuzz.mk

format:
	clang-format -i $(filter %.c,$(ALL_SRC)) $(wildcard */*.h sim/*/*.h)

format-check:
	clang-format --dry-run -Werror $(filter %.c,$(ALL_SRC)) $(wildcard */*.h sim/*/*.h)

clean:
	rm -rf build

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)

# mlc-secrets validates .ionapi files with the extractor's cs_ionapi before storing them.
$(B)/bin/mlc-secrets: $(B)/obj/tools/mlc-secrets.o $(B)/lib/libmlc_extractor.a $(SIM_LIB) \
                      $(COMMON_LIB)
	@mkdir -p $(dir $@)
	@echo "LD $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# mlc-status reads the extractor's state and the replayer's store (read-only).
$(B)/bin/mlc-status: $(B)/obj/tools/mlc-status.o $(B)/lib/libmlc_extractor.a \
                     $(B)/lib/libmlc_replayer.a $(SIM_LIB) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	@echo "LD $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
