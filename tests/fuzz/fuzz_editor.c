/* libFuzzer harness: payload editor: edit script + text -> editor ops and validation (see
 * fuzz_entry.h). */
#include <stddef.h>
#include <stdint.h>

#include "tests/fuzz/fuzz_entry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_editor_one(data, size);
    return 0;
}
