#!/bin/sh
# make tidy: clang-tidy (.clang-tidy) over the files given, with the build's
# compiler flags from $TIDY_FLAGS. The flags are split on spaces on purpose
# (a list of flags); a quote inside one, as in -DINTENTUS_PREFIX="/usr",
# stays part of the argument, which is what the compiler must see.
# shellcheck disable=SC2086
exec clang-tidy --quiet "$@" -- $TIDY_FLAGS
