/* jsonnum.c - doubles in JSON that read back bit-identical (see jsonnum.h). */
#include "io/jsonnum.h"

#include <math.h>
#include <stdio.h>

cJSON *ng_json_exact(double v) {
    if (!isfinite(v)) return cJSON_CreateNull();
    char buf[40];
    snprintf(buf, sizeof buf, "%.17g", v);
    return cJSON_CreateRaw(buf);
}
