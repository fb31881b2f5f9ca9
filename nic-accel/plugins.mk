# nic-accel/plugins.mk - builds accelerator plugins as shared objects:
#   $(BUILD)/lib/pvnet-accel/<name>.so  from  nic-accel/<name>/*.c + nic-accel/sdk/*.c
# Plugins see only the SDK (pvnet/accel_plugin.h, pvnet/accel_sdk.h; make check-layers
# checks it) and lib.h/pkt_parse.h; every plugin links
# the SDK (nic-accel/sdk/) statically; -fvisibility=hidden keeps the SDK's symbols
# private and leaves the entry symbol (pvnet_accel_entry) as the one export.
#
# Standalone:  make -f nic-accel/plugins.mk [BUILD=build] [SAN=1]
# From the top Makefile:  include nic-accel/plugins.mk   and   all build: accel-plugins

BUILD ?= build
CC ?= gcc
ifeq ($(CC),cc)
CC := gcc
endif
include warnings.mk
# The SDK folder is a library of every plugin, not a plugin of its own.
ACCEL_SDK_SRCS := $(wildcard nic-accel/sdk/*.c)
# libnic-accel (the top Makefile's module) also compiles the SDK and simnic's
# device and engine, so simnic is a built-in plugin too (accel_register_builtins);
# simnic/plugin.c, the .so's entry, stays out of the library.
MODULE_SRCS_nic-accel := $(ACCEL_SDK_SRCS) $(filter-out %/plugin.c,$(wildcard nic-accel/simnic/*.c))
ACCEL_PLUGIN_NAMES := $(filter-out sdk,$(notdir $(patsubst %/,%,$(sort $(dir $(wildcard nic-accel/*/*.c))))))

# Per-plugin flags: ACCEL_PLUGIN_FLAGS_<name> (compile and link).
# dpdk: DPDK's headers and libraries from pkg-config; without libdpdk the plugin
# is skipped with a message (scripts/deps.sh installs dpdk-dev).
ifneq ($(filter dpdk,$(ACCEL_PLUGIN_NAMES)),)
ACCEL_DPDK_PC := $(shell pkg-config --cflags --libs libdpdk 2>/dev/null)
ifeq ($(ACCEL_DPDK_PC),)
$(info nic-accel: pkg-config libdpdk not found: not building the dpdk plugin (install dpdk-dev))
ACCEL_PLUGIN_NAMES := $(filter-out dpdk,$(ACCEL_PLUGIN_NAMES))
else
ACCEL_PLUGIN_FLAGS_dpdk := $(ACCEL_DPDK_PC)
endif
endif
ACCEL_PLUGIN_SOS := $(patsubst %,$(BUILD)/lib/pvnet-accel/%.so,$(ACCEL_PLUGIN_NAMES))
ACCEL_PLUGIN_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O2 $(WARN) -Iinclude -pthread -fPIC -shared \
	-fvisibility=hidden $(CPPFLAGS) $(CFLAGS) $(LDFLAGS)
ifeq ($(SAN),1)
# A plugin loaded into a sanitized program may use the sanitizer runtime it provides.
ACCEL_PLUGIN_CFLAGS += -fno-omit-frame-pointer -fsanitize=address,undefined
endif

.PHONY: accel-plugins
accel-plugins: $(ACCEL_PLUGIN_SOS)

define accel_plugin_rule
$(BUILD)/lib/pvnet-accel/$(1).so: $(wildcard nic-accel/$(1)/*.c nic-accel/$(1)/*.h) $(ACCEL_SDK_SRCS) \
		include/pvnet/accel_plugin.h include/pvnet/accel_sdk.h include/pvnet/pkt_parse.h include/pvnet/lib.h
	@mkdir -p $$(@D)
	$$(CC) $$(ACCEL_PLUGIN_CFLAGS) -o $$@ $$(filter %.c,$$^) $$(ACCEL_PLUGIN_FLAGS_$(1))
endef
$(foreach p,$(ACCEL_PLUGIN_NAMES),$(eval $(call accel_plugin_rule,$(p))))
