/* Short, printable excerpts of bytes that came from outside intentus (an exec
 * agent's stderr, an HTTP body) for error details. Such bytes may be cut
 * mid-character or not be text at all, and a record must still be valid
 * JSON, so the excerpt is always well-formed UTF-8. */
#ifndef INTENTUS_CORE_SNIPPET_H
#define INTENTUS_CORE_SNIPPET_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* At most max bytes of data[0..len) as a JSON string: malformed UTF-8 and
 * NUL bytes become '?', a character cut by the cap is dropped, and "..." is
 * appended when anything was cut. NULL only when out of memory. */
cJSON *snippet_json(const void *data, size_t len, size_t max);

#endif
