/* checkpoint_kind.c - which kind of model a checkpoint holds, read from its metadata alone
 * (no tensor is read): what the command dispatches on. */
#include "core/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int ng_checkpoint_kind(const char *path, ng_model_kind *kind) {
    char *file = ng_checkpoint_model_path(path);
    if (!file) return NG_ERR;
    struct stat st;
    if (stat(file, &st) != 0) {
        ng_set_error("no checkpoint at '%s' (%s: %s)", path, file, strerror(errno));
        free(file);
        return NG_ERR;
    }
    ng_st_file *f = ng_safetensors_open(file);
    int rc = NG_ERR;
    if (!f) goto done;
    const char *cj = ng_st_meta(f, "config"), *tj = ng_st_meta(f, "tokenizer"), *ij = ng_st_meta(f, "image_config");
    ng_model_config cfg;
    if ((cj || tj) && ij) ng_set_error("%s: both a text model's config and an image model's image_config in its metadata: which is it?", file);
    else if (!(cj && tj) && !ij) ng_set_error("%s: not a nanogen checkpoint (no config and tokenizer, or image_config, metadata)", file);
    else if (ng_model_config_from_json(ij ? ij : cj, &cfg)) ng_set_error("%s: %s", file, ng_last_error());
    else if (ng_model_kind_is_text(cfg.kind) != !ij)
        ng_set_error("%s: '%s' describes %s model (%s)", file, ij ? "image_config" : "config", ij ? "a text" : "an image", ng_model_kind_name(cfg.kind));
    else { *kind = cfg.kind; rc = NG_OK; }
done:
    ng_safetensors_close(f);
    free(file);
    return rc;
}
