/* libFuzzer harness: theme file text -> theme_parse (see fuzz_entry.h). */
#include <stddef.h>
#include <stdint.h>

#include "tests/fuzz/fuzz_entry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_theme_one(data, size);
    return 0;
}
