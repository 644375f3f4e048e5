# libFuzzer targets for every decoder of outside input (tests/fuzz/fuzz_*.c), included by
# the top Makefile. The project sources the targets need are compiled a second time with
# clang and -fsanitize=fuzzer-no-link,address,undefined into $(FUZZ_DIR)/obj, so the
# fuzzer sees their coverage; each target links them with -fsanitize=fuzzer.
#   make fuzz                 builds every target and runs each for FUZZ_SECONDS (60)
#   make fuzz-build           builds them only
#   make fuzz-run-TARGET      runs one (e.g. make fuzz-run-fuzz_envelope FUZZ_SECONDS=600)
#   make fuzz-seeds           rewrites the msgpack seeds with the real encoders
# A run works on a scratch copy of the checked-in seed corpus (tests/fuzz/corpus/TARGET)
# under $(FUZZ_DIR)/work, so new inputs never dirty the tree; a crash leaves its
# reproducer in $(FUZZ_DIR)/artifacts. Fix the bug, then check the reproducer in as
# tests/fuzz/corpus/TARGET/regress-<what>. tests/fuzz/run-short.sh is the short run of
# `make test`.

FUZZ_DIR      ?= build/fuzz
FUZZ_SECONDS  ?= 60
FUZZ_CC       ?= clang
FUZZ_SAN      := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                 -fno-omit-frame-pointer
FUZZ_CFLAGS   := -std=gnu11 -O1 -g -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
                 -D_GNU_SOURCE -MMD -MP -Icommon -Iextractor -Iloader -Itransformer \
                 -Ireplayer -DMLC_SOURCE_DIR='"$(CURDIR)"' $(PKG_CFLAGS) $(FUZZ_SAN)
# -rss_limit_mb: an input that makes a decoder allocate without bound is a finding.
FUZZ_RUN_OPTS ?= -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
FUZZ_ENV      := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
                 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# The modules under test, one archive per folder, so work in progress elsewhere in a
# process folder breaks at most the targets that link it.
FUZZ_MOD_common      := $(basename $(wildcard common/*.c))
FUZZ_MOD_extractor   := extractor/cs_ionapi extractor/cs_ido extractor/cs_auth
FUZZ_MOD_loader      := loader/sf_collections loader/sf_org loader/sf_auth \
                        $(basename $(wildcard loader/sf_csv.c loader/sf_bulk.c))
FUZZ_MOD_transformer := transformer/tf_mapping transformer/tf_transform transformer/tf_memory
FUZZ_MOD_replayer    := replayer/rp_daemon replayer/rp_store
FUZZ_FOLDERS  := common extractor loader transformer replayer
fuzz_lib       = $(FUZZ_DIR)/lib/libfuzz_$(1).a

# The archives each target links (common last).
FUZZ_LIBS_fuzz_envelope       := common
FUZZ_LIBS_fuzz_event          := common
FUZZ_LIBS_fuzz_config         := common
FUZZ_LIBS_fuzz_ionapi         := extractor common
FUZZ_LIBS_fuzz_ido            := extractor common
FUZZ_LIBS_fuzz_sf_collections := loader common
FUZZ_LIBS_fuzz_bulk_csv       := loader common
FUZZ_LIBS_fuzz_mapping        := transformer loader common
FUZZ_LIBS_fuzz_transform      := transformer loader common
FUZZ_LIBS_fuzz_replayer       := replayer common

FUZZ_SRC      := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_TARGETS  := $(patsubst tests/fuzz/%.c,%,$(FUZZ_SRC))
FUZZ_BINS     := $(addprefix $(FUZZ_DIR)/,$(FUZZ_TARGETS))

.PHONY: fuzz-build fuzz-seeds fuzz-list
fuzz-build: $(FUZZ_BINS)

fuzz-list:
	@echo $(FUZZ_TARGETS)

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC(fuzz) $<"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

define FUZZ_LIB_RULE
$(call fuzz_lib,$(1)): $(patsubst %,$(FUZZ_DIR)/obj/%.o,$(FUZZ_MOD_$(1)))
	@mkdir -p $$(dir $$@)
	$$(Q)rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach f,$(FUZZ_FOLDERS),$(eval $(call FUZZ_LIB_RULE,$(f))))

define FUZZ_BIN_RULE
$(FUZZ_DIR)/$(1): $(FUZZ_DIR)/obj/tests/fuzz/$(1).o $(foreach l,$(or $(FUZZ_LIBS_$(1)),common),$(call fuzz_lib,$(l)))
	@echo "LD $$@"
	$$(Q)$$(FUZZ_CC) $$(FUZZ_SAN) -fsanitize=fuzzer -o $$@ $$^ $$(PKG_LIBS) -lpthread -lm
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call FUZZ_BIN_RULE,$(t))))

# The seed generator writes the msgpack seeds (envelopes, events) with the real encoders.
$(FUZZ_DIR)/seedgen: $(FUZZ_DIR)/obj/tests/fuzz/seedgen.o $(call fuzz_lib,common)
	@echo "LD $@"
	$(Q)$(FUZZ_CC) $(FUZZ_SAN) -o $@ $^ $(PKG_LIBS) -lpthread -lm

fuzz-seeds: $(FUZZ_DIR)/seedgen
	$(FUZZ_DIR)/seedgen tests/fuzz/corpus

# fuzz-run-TARGET: one target for FUZZ_SECONDS on a scratch copy of its seeds.
fuzz-run-%: $(FUZZ_DIR)/%
	@rm -rf $(FUZZ_DIR)/work/$* && mkdir -p $(FUZZ_DIR)/work/$* $(FUZZ_DIR)/artifacts
	@echo "FUZZ $* for $(FUZZ_SECONDS) s"
	$(Q)$(FUZZ_ENV) $(FUZZ_DIR)/$* $(FUZZ_RUN_OPTS) -max_total_time=$(FUZZ_SECONDS) \
	    -artifact_prefix=$(FUZZ_DIR)/artifacts/$*- $(FUZZ_DIR)/work/$* tests/fuzz/corpus/$* \
	    >$(FUZZ_DIR)/$*.log 2>&1 || { tail -60 $(FUZZ_DIR)/$*.log; exit 1; }
	@grep -E '^(stat::number_of_executed_units|Done)' $(FUZZ_DIR)/$*.log | tr '\n' ' '; echo

# Every target in turn; a failing one does not stop the others, the result does.
fuzz: $(FUZZ_BINS)
	$(Q)failed=""; for t in $(FUZZ_TARGETS); do \
	    $(MAKE) --no-print-directory FUZZ_DIR=$(FUZZ_DIR) FUZZ_SECONDS=$(FUZZ_SECONDS) \
	        fuzz-run-$$t || failed="$$failed $$t"; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: failed:$$failed (reproducers in $(FUZZ_DIR)/artifacts)"; exit 1; fi; \
	echo "fuzz: every target ran $(FUZZ_SECONDS) s clean"

-include $(shell find $(FUZZ_DIR)/obj -name '*.d' 2>/dev/null)
