/* libFuzzer harness: record file bytes -> the field scanner against the cJSON digest (see
 * fuzz_entry.h). */
#include <stddef.h>
#include <stdint.h>

#include "tests/fuzz/fuzz_entry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_digest_one(data, size);
    return 0;
}
