# pvnet - GNU Makefile
#
#   make            build libraries, tools and unit tests (build/)
#   make check      install deps, build, run every test; last line "N passed, N failed"
#   make run        install deps, build, run the demo (scripts/demo.sh)
#   make unit       unit tests, plain build        make unit-asan   same under ASan+UBSan
#   make integration                               make fuzz        fuzz targets (FUZZ_SECONDS)
#   make format     clang-format the tree          make clean
#
# Layout: each module folder (hv vswitch netback netfront nic-accel tools/lib)
# becomes one static library; tools/<prog>/*.c become programs; tests/unit/test_X.c
# (plus tests/unit/test_X/*.c) becomes one cmocka binary; tests/fuzz/fuzz_X.c one
# libFuzzer target.

.DEFAULT_GOAL := all
BUILD ?= build
SAN ?= 0
CC ?= gcc
ifeq ($(CC),cc)
CC := gcc
endif

WARN := -Wall -Wextra -Wshadow -Wvla -Wstrict-prototypes -Werror
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -g $(WARN) -Iinclude -pthread -MMD -MP
ifeq ($(SAN),1)
OPT := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDSAN := -fsanitize=address,undefined
else
OPT := -O2
LDSAN :=
endif
CFLAGS ?=
CFLAGS_ALL := $(CFLAGS_BASE) $(OPT) $(CFLAGS)
LDLIBS_ALL := -lpcap -lxdp -lbpf -ljansson -ldl -pthread

# Modules in link order (a module may use only those after it).
MODULES := tools/lib nic-accel netback netfront vswitch hv
modlib = $(BUILD)/lib/lib$(subst /,_,$(1)).a
MODLIBS := $(foreach m,$(MODULES),$(call modlib,$(m)))

define module_rules
$(1)_SRCS := $$(wildcard $(1)/*.c)
$(1)_OBJS := $$(patsubst %.c,$(BUILD)/obj/%.o,$$($(1)_SRCS))
$(call modlib,$(1)): $$($(1)_OBJS) $(BUILD)/obj/empty.o
	@mkdir -p $$(@D)
	@rm -f $$@
	ar rcs $$@ $$^
ALL_OBJS += $$($(1)_OBJS)
endef
$(foreach m,$(MODULES),$(eval $(call module_rules,$(m))))

# An archive with no members still needs a valid file.
$(BUILD)/obj/empty.o:
	@mkdir -p $(@D)
	echo 'typedef int pvnet_empty_unit;' | $(CC) -x c -c -o $@ -

PROGS := $(notdir $(patsubst %/,%,$(filter-out tools/lib/,$(sort $(dir $(wildcard tools/*/*.c))))))
PROG_BINS := $(addprefix $(BUILD)/bin/,$(PROGS))

define prog_rules
$(1)_OBJS := $$(patsubst %.c,$(BUILD)/obj/%.o,$$(wildcard tools/$(1)/*.c))
$(BUILD)/bin/$(1): $$($(1)_OBJS) $(MODLIBS)
	@mkdir -p $$(@D)
	$(CC) $(LDSAN) -o $$@ $$($(1)_OBJS) -Wl,--start-group $(MODLIBS) -Wl,--end-group $(LDLIBS_ALL)
ALL_OBJS += $$($(1)_OBJS)
endef
$(foreach p,$(PROGS),$(eval $(call prog_rules,$(p))))

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_NAMES := $(patsubst tests/unit/%.c,%,$(UNIT_SRCS))
UNIT_BINS := $(addprefix $(BUILD)/tests/,$(UNIT_NAMES))

define unit_rules
$(1)_OBJS := $$(patsubst %.c,$(BUILD)/obj/%.o,tests/unit/$(1).c $$(wildcard tests/unit/$(1)/*.c))
$(BUILD)/tests/$(1): $$($(1)_OBJS) $(MODLIBS)
	@mkdir -p $$(@D)
	$(CC) $(LDSAN) -o $$@ $$($(1)_OBJS) -Wl,--start-group $(MODLIBS) -Wl,--end-group $(LDLIBS_ALL) -lcmocka
ALL_OBJS += $$($(1)_OBJS)
endef
$(foreach t,$(UNIT_NAMES),$(eval $(call unit_rules,$(t))))

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(CFLAGS_$(subst /,_,$(patsubst %/,%,$(dir $<)))) -c -o $@ $<

# Accelerator plugins: build/lib/pvnet-accel/<name>.so from nic-accel/<name>/*.c
include nic-accel/plugins.mk

.PHONY: all build unit unit-asan integration fuzz check run deps clean format bench
all build: $(MODLIBS) $(PROG_BINS) $(UNIT_BINS) accel-plugins

deps:
	@scripts/deps.sh

unit: all
	@tests/run.sh unit $(BUILD)

unit-asan:
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=1 all
	@tests/run.sh unit build-asan

integration: all
	@tests/run.sh integration $(BUILD)

FUZZ_SECONDS ?= 30
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,build-fuzz/%,$(FUZZ_SRCS))
FUZZ_LIB_SRCS := $(foreach m,$(MODULES),$(wildcard $(m)/*.c))
build-fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_SRCS)
	@mkdir -p $(@D)
	clang -std=c11 -D_GNU_SOURCE -g -O1 -Iinclude -pthread -Wall -Wextra -Werror \
	  -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_LIB_SRCS) $(LDLIBS_ALL)
fuzz-build: $(FUZZ_BINS)
fuzz: fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/run.sh fuzz build-fuzz

# make check: every test, one summary line.
check: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory BUILD=build-asan SAN=1 all
	@$(MAKE) --no-print-directory fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/run.sh check

run: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

bench: deps all
	@perf/bench.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-fuzz

-include $(ALL_OBJS:.o=.d)
