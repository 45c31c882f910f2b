/* fuzz_state.c - any bytes as the saved training state of a checkpoint (its "train" metadata:
 * step or epoch, settings, RNG state, running sums, the position inside an epoch), read as
 * ng_trainer_resume reads it for a text model and for an image model (ng_train_state_check).
 * Each reader either restores settings that lie where their flags may or fails with a message;
 * neither may crash, read out of bounds or trust a number it did not check. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *json = malloc(size + 1);
    if (!json) return 0;
    memcpy(json, data, size);
    json[size] = 0;
    ng_set_error("%s", "");
    if (ng_train_state_check(json, 1)) FZ_CHECK_ERROR();
    ng_set_error("%s", "");
    if (ng_train_state_check(json, 0)) FZ_CHECK_ERROR();
    free(json);
    return 0;
}
