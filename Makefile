# pvnet - GNU Makefile
#
#   make            build libraries, tools and unit tests (build/)
#   make check      install deps, build, run every test; last line "N passed, N failed"
#   make run        install deps, build, run the demo (scripts/demo.sh)
#   make unit       unit tests, plain build        make unit-asan   same under ASan+UBSan
#   make integration                               make fuzz        fuzz targets (FUZZ_SECONDS)
#   make format     clang-format the tree          make format-check  list unformatted files
#   make clean
#   make install    PREFIX=/usr/local DESTDIR= BINDIR SBINDIR LIBEXECDIR PLUGINDIR MANDIR ...
#   make deb        a Debian package (dpkg-buildpackage) in build-deb/
#
# Layout: each module folder (lib hv guest vswitch netback netfront nic-accel tools/lib)
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

# Installation paths (GNU conventions). PLUGINDIR and LIBEXECDIR are compiled into
# pvnetd as the defaults of --accel-dir and of where it looks for pvnet-guest.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
LIBEXECDIR ?= $(PREFIX)/lib/pvnet
PLUGINDIR ?= $(PREFIX)/lib/pvnet/accel
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share
SYSCONFDIR ?= /etc
UNITDIR ?= /lib/systemd/system
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
DOCDIR ?= $(DATADIR)/doc/pvnet

# WARN: the warning list (warnings.mk, shared with plugins.mk and the fuzz rule).
include warnings.mk
# CPPFLAGS, CFLAGS and LDFLAGS from the environment (dpkg-buildflags) are honoured.
CPPFLAGS ?=
LDFLAGS ?=
# nettle: SHA-256 and HMAC of the migration stream (hv/save.c).
NETTLE_CFLAGS := $(shell pkg-config --cflags nettle)
NETTLE_LIBS := $(shell pkg-config --libs nettle)
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -g $(WARN) -Iinclude -pthread -MMD -MP $(CPPFLAGS)
ifeq ($(SAN),1)
OPT := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDSAN := -fsanitize=address,undefined
else
OPT := -O2
LDSAN :=
endif
CFLAGS ?=
CFLAGS_ALL := $(CFLAGS_BASE) $(NETTLE_CFLAGS) $(OPT) $(CFLAGS)
LDLIBS_ALL := -lpcap -lxdp -lbpf -ljansson $(NETTLE_LIBS) -ldl -pthread

# Modules in link order (a module may use only those after it).
MODULES := tools/lib netback netfront nic-accel vswitch guest hv lib
modlib = $(BUILD)/lib/lib$(subst /,_,$(1)).a
MODLIBS := $(foreach m,$(MODULES),$(call modlib,$(m)))

# Accelerator plugins: build/lib/pvnet-accel/<name>.so from nic-accel/<name>/*.c.
# A module is its folder's .c files plus MODULE_SRCS_<module> (plugins.mk lists
# nic-accel's: the plugin SDK and simnic's engine, built in as well as plugins).
include nic-accel/plugins.mk
define module_rules
$(1)_SRCS := $$(wildcard $(1)/*.c) $$(MODULE_SRCS_$(1))
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
# What `make install` puts on a host: the toolstack, the daemon, the guest program
# and the packet generator (pvnet-hostile, -microbench, -accel-test are test tools).
INSTALL_BIN := pvnet pvnet-pktgen
INSTALL_SBIN := pvnetd
INSTALL_LIBEXEC := pvnet-guest
# Plugins pvnetd does not have built in (simnic is: shipping its .so too only made
# every start warn that the name is taken).
BUILTIN_PLUGINS := simnic

define prog_rules
$(1)_OBJS := $$(patsubst %.c,$(BUILD)/obj/%.o,$$(wildcard tools/$(1)/*.c))
$(BUILD)/bin/$(1): $$($(1)_OBJS) $(MODLIBS)
	@mkdir -p $$(@D)
	$(CC) $(LDSAN) $(LDFLAGS) -o $$@ $$($(1)_OBJS) $(MODLIBS) $(LDLIBS_ALL)
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
	$(CC) $(LDSAN) $(LDFLAGS) -o $$@ $$($(1)_OBJS) $(MODLIBS) $(LDLIBS_ALL) -lcmocka
ALL_OBJS += $$($(1)_OBJS)
endef
$(foreach t,$(UNIT_NAMES),$(eval $(call unit_rules,$(t))))

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(CFLAGS_$(subst /,_,$(patsubst %/,%,$(dir $<)))) -c -o $@ $<

# pvnetd's compiled-in defaults follow the install paths; the stamp changes (and
# main.o is rebuilt) only when a path does.
PATHS_DEFS := -DPVNET_PLUGINDIR='"$(PLUGINDIR)"' -DPVNET_LIBEXECDIR='"$(LIBEXECDIR)"'
CFLAGS_tools_pvnetd := $(PATHS_DEFS)
$(BUILD)/gen/paths.stamp: FORCE
	@mkdir -p $(@D)
	@echo '$(PATHS_DEFS)' | cmp -s - $@ || echo '$(PATHS_DEFS)' > $@
$(BUILD)/obj/tools/pvnetd/main.o: $(BUILD)/gen/paths.stamp
.PHONY: FORCE
FORCE:

.PHONY: check-layers
# The one-way rule of MODULES, checked on the built libraries' symbols and on every
# module's includes, and plugins kept to the SDK (scripts/check-layers.py); its
# self-test first proves each check fails on a fixture that breaks its rule.
check-layers: $(MODLIBS)
	@scripts/check-layers.py --self-test >/dev/null || scripts/check-layers.py --self-test
	@scripts/check-layers.py $(BUILD) $(MODULES)

.PHONY: check-funcs
# No C function over 80 lines but the data-path loops listed, each saying why
# (scripts/check-funcs.py); its self-test first proves it fails on a long one.
check-funcs:
	@scripts/check-funcs.py --self-test >/dev/null || scripts/check-funcs.py --self-test
	@scripts/check-funcs.py

.PHONY: all build progs unit unit-asan integration fuzz check run deps clean format format-check bench install uninstall deb
all build: $(MODLIBS) $(PROG_BINS) $(UNIT_BINS) accel-plugins
progs: $(PROG_BINS) accel-plugins

INSTALL_PLUGINS = $(filter-out $(patsubst %,$(BUILD)/lib/pvnet-accel/%.so,$(BUILTIN_PLUGINS)),$(ACCEL_PLUGIN_SOS))
install: progs
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(PLUGINDIR)
	install -m 0755 $(addprefix $(BUILD)/bin/,$(INSTALL_BIN)) $(DESTDIR)$(BINDIR)/
	install -m 0755 $(addprefix $(BUILD)/bin/,$(INSTALL_SBIN)) $(DESTDIR)$(SBINDIR)/
	install -m 0755 $(addprefix $(BUILD)/bin/,$(INSTALL_LIBEXEC)) $(DESTDIR)$(LIBEXECDIR)/
	$(if $(INSTALL_PLUGINS),install -m 0644 $(INSTALL_PLUGINS) $(DESTDIR)$(PLUGINDIR)/)
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 0644 man/pvnet.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 man/pvnet.cfg.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 man/pvnetd.8 $(DESTDIR)$(MANDIR)/man8/
	install -d $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(SYSCONFDIR)/logrotate.d $(DESTDIR)$(UNITDIR)
	install -m 0644 packaging/pvnet.bash-completion $(DESTDIR)$(BASHCOMPDIR)/pvnet
	install -m 0644 packaging/pvnet.logrotate $(DESTDIR)$(SYSCONFDIR)/logrotate.d/pvnet
	sed 's|@SBINDIR@|$(SBINDIR)|g' packaging/pvnetd.service.in > $(DESTDIR)$(UNITDIR)/pvnetd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/pvnetd.service
	install -d $(DESTDIR)$(DOCDIR)/examples
	install -m 0644 README.md LICENSE $(DESTDIR)$(DOCDIR)/
	install -m 0644 examples/*.cfg $(DESTDIR)$(DOCDIR)/examples/

uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(INSTALL_BIN)) $(addprefix $(DESTDIR)$(SBINDIR)/,$(INSTALL_SBIN))
	rm -rf $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(DOCDIR)
	rm -f $(DESTDIR)$(MANDIR)/man1/pvnet.1 $(DESTDIR)$(MANDIR)/man5/pvnet.cfg.5 $(DESTDIR)$(MANDIR)/man8/pvnetd.8
	rm -f $(DESTDIR)$(BASHCOMPDIR)/pvnet $(DESTDIR)$(SYSCONFDIR)/logrotate.d/pvnet $(DESTDIR)$(UNITDIR)/pvnetd.service

# A binary package for this machine's Debian: dpkg-buildpackage builds in
# build-deb/ (debian/rules), the .deb files land in build-deb/out/.
deb:
	@scripts/deb.sh

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
FUZZ_LIB_SRCS := $(foreach m,$(MODULES),$($(m)_SRCS))
# The modules are compiled once for all targets (coverage instrumentation without
# libFuzzer's main), archived, and each target links the archive.
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Iinclude -pthread $(NETTLE_CFLAGS) $(WARN_FLAGS) -Werror -MMD -MP
FUZZ_LIB_OBJS := $(patsubst %.c,build-fuzz/obj/%.o,$(FUZZ_LIB_SRCS))
build-fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<
build-fuzz/libpvnet-fuzz.a: $(FUZZ_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^
build-fuzz/%: tests/fuzz/%.c build-fuzz/libpvnet-fuzz.a
	@mkdir -p $(@D)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< \
	  -Wl,--start-group build-fuzz/libpvnet-fuzz.a -Wl,--end-group $(LDLIBS_ALL)
-include $(FUZZ_LIB_OBJS:.o=.d)
fuzz-build: $(FUZZ_BINS)
fuzz: fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/run.sh fuzz build-fuzz

# make check: every test, one summary line.
check: deps
	@$(MAKE) --no-print-directory WERROR=1 all
	@$(MAKE) --no-print-directory check-layers
	@$(MAKE) --no-print-directory check-funcs
	@$(MAKE) --no-print-directory format-check
	@$(MAKE) --no-print-directory WERROR=1 BUILD=build-asan SAN=1 all
	@$(MAKE) --no-print-directory fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/run.sh check

run: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh

bench: deps all
	@perf/bench.sh

# clang-format 14 with .clang-format over every C file; format-check lists the
# files it would change and fails if there is one (scripts/format.sh)
format:
	@scripts/format.sh

format-check:
	@scripts/format.sh --check

clean:
	rm -rf build build-asan build-fuzz build-deb

-include $(ALL_OBJS:.o=.d)
