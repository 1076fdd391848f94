/* Macros cppcheck must know to parse the tree without reading system headers
 * (make cppcheck passes this file with --include). cJSON's iteration macro,
 * as cJSON.h defines it. */
#define cJSON_ArrayForEach(element, array)                                                         \
    for (element = (array != NULL) ? (array)->child : NULL; element != NULL;                       \
         element = element->next)
