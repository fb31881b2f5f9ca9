# warnings.mk - the one warning list of every C compile: the Makefile's modules,
# programs and unit tests (gcc), nic-accel/plugins.mk's plugins and the fuzz
# targets (clang). Included by both makefiles; add a warning here, nowhere else.
#
# WARN_FLAGS   the warnings themselves (the fuzz rule adds -Werror always)
# WARN         WARN_FLAGS, plus -Werror with WERROR=1: only where the code's owners
#              build (make check and the CI); a packager's newer compiler must not
#              fail the build on a new warning.
WARN_FLAGS := -Wall -Wextra -Wshadow -Wvla -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
WERROR ?= 0
WARN := $(WARN_FLAGS) $(if $(filter 1,$(WERROR)),-Werror)
