/* jsonnum.h - doubles in JSON that read back bit-identical. cJSON prints a double with 15
 * significant digits whenever those read back within its approximate comparison (about one
 * unit in the last place): 0.1 + 0.2 is saved as 0.3. A running sum kept in a checkpoint's
 * training state must come back exactly, or a resumed run logs a different last digit. */
#ifndef NG_JSONNUM_H
#define NG_JSONNUM_H
#include <cjson/cJSON.h>

/* v as a JSON number with 17 significant digits (strtod, which cJSON parses with, gives v
 * back); NaN or infinity as null. NULL when out of memory. */
cJSON *ng_json_exact(double v);
#endif
