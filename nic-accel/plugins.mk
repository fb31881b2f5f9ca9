# nic-accel/plugins.mk - builds accelerator plugins as shared objects:
#   $(BUILD)/lib/pvnet-accel/<name>.so  from  nic-accel/<name>/*.c
# Plugins see only include/ (pvnet/accel.h); -fvisibility=hidden leaves the entry
# symbol (pvnet_accel_entry) as the one export.
#
# Standalone:  make -f nic-accel/plugins.mk [BUILD=build] [SAN=1]
# From the top Makefile:  include nic-accel/plugins.mk   and   all build: accel-plugins

BUILD ?= build
CC ?= gcc
ifeq ($(CC),cc)
CC := gcc
endif
ACCEL_PLUGIN_NAMES := $(notdir $(patsubst %/,%,$(sort $(dir $(wildcard nic-accel/*/*.c)))))
ACCEL_PLUGIN_SOS := $(patsubst %,$(BUILD)/lib/pvnet-accel/%.so,$(ACCEL_PLUGIN_NAMES))
ACCEL_PLUGIN_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O2 -Wall -Wextra -Wshadow -Wvla \
	-Wstrict-prototypes -Werror -Iinclude -pthread -fPIC -shared -fvisibility=hidden
ifeq ($(SAN),1)
# A plugin loaded into a sanitized program may use the sanitizer runtime it provides.
ACCEL_PLUGIN_CFLAGS += -fno-omit-frame-pointer -fsanitize=address,undefined
endif

.PHONY: accel-plugins
accel-plugins: $(ACCEL_PLUGIN_SOS)

define accel_plugin_rule
$(BUILD)/lib/pvnet-accel/$(1).so: $(wildcard nic-accel/$(1)/*.c nic-accel/$(1)/*.h) include/pvnet/accel.h
	@mkdir -p $$(@D)
	$$(CC) $$(ACCEL_PLUGIN_CFLAGS) -o $$@ $$(filter %.c,$$^)
endef
$(foreach p,$(ACCEL_PLUGIN_NAMES),$(eval $(call accel_plugin_rule,$(p))))
