/* info.c - `nanogen info DIR`: config, parameter count, tokenizer (text models), training state
 * and history, for text and image checkpoints. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The evaluations recorded in metrics.jsonl beside the model file at path: steps (text) or
 * epochs (image models, with whichever losses the model logs). */
static void print_history(const char *path, int image) {
    char *mdir = path ? strdup(path) : NULL;
    if (!mdir) return;
    char *slash = strrchr(mdir, '/');
    if (slash) *slash = 0; else strcpy(mdir, ".");
    size_t len = strlen(mdir) + 32;
    char *mp = malloc(len);
    FILE *f = NULL;
    if (mp) { snprintf(mp, len, "%s/metrics.jsonl", mdir); f = fopen(mp, "r"); }
    free(mp); free(mdir);
    if (!f) return;
    static const char *ikeys[] = {"train_loss", "test_loss", "test_acc", "d_loss", "g_loss", "d_real", "d_fake"};
    char line[4096];
    int header = 0;
    while (fgets(line, sizeof line, f)) {
        cJSON *e = cJSON_Parse(line);
        if (image) {
            const cJSON *ep = cJSON_GetObjectItem(e, "epoch");
            if (cJSON_IsNumber(ep)) {
                if (!header) { printf("history     epoch "); header = 1; for (size_t k = 0; k < 7; k++) if (cJSON_IsNumber(cJSON_GetObjectItem(e, ikeys[k]))) printf(" %10s", ikeys[k]); printf("\n"); }
                printf("            %5d ", ep->valueint);
                for (size_t k = 0; k < 7; k++) {
                    const cJSON *v = cJSON_GetObjectItem(e, ikeys[k]);
                    if (cJSON_IsNumber(v)) printf(" %10.4f", v->valuedouble);
                }
                printf("\n");
            }
            cJSON_Delete(e);
            continue;
        }
        const cJSON *s = cJSON_GetObjectItem(e, "step"), *tl = cJSON_GetObjectItem(e, "train_loss"),
                    *vl = cJSON_GetObjectItem(e, "val_loss"), *fv = cJSON_GetObjectItem(e, "full_val_loss");
        if (!header && cJSON_IsNumber(s) && (cJSON_IsNumber(vl) || cJSON_IsNumber(fv))) { printf("history     step   train    val\n"); header = 1; }
        if (cJSON_IsNumber(s) && cJSON_IsNumber(tl) && cJSON_IsNumber(vl))
            printf("            %5d  %.4f  %.4f\n", s->valueint, tl->valuedouble, vl->valuedouble);
        else if (cJSON_IsNumber(s) && cJSON_IsNumber(fv))
            printf("            %5d  full val split: %.4f\n", s->valueint, fv->valuedouble);
        cJSON_Delete(e);
    }
    fclose(f);
}

/* the "settings" line: the keys (NULL-terminated) of the training state that it holds */
static void print_settings(const cJSON *j, const char *const *keys) {
    printf("settings   ");
    for (; *keys; keys++) {
        const cJSON *v = cJSON_GetObjectItem(j, *keys);
        if (cJSON_IsNumber(v)) printf(" %s %g", *keys, v->valuedouble);
        else if (cJSON_IsString(v)) printf(" %s %s", *keys, v->valuestring);
    }
    printf("\n");
}

/* an image model's checkpoint: kind, picture shape, sizes, training state, history */
static int info_image(const char *dir) {
    ng_model *m = NULL;
    char *train = NULL;
    if (ng_checkpoint_load(dir, &m, NULL, &train)) return cli_fail();
    const ng_model_config *c = ng_model_cfg(m);
    char *path = ng_checkpoint_model_path(dir);
    struct stat st;
    printf("checkpoint  %s (%.1f MB)\n", path ? path : dir, path && stat(path, &st) == 0 ? st.st_size / 1e6 : 0.0);
    printf("model       %s%s\n", ng_model_kind_name(c->kind), c->arch == NG_ARCH_CONV ? " (conv)" : "");
    char desc[256];
    ng_model_describe(m, desc, sizeof desc);
    printf("config      %s\n", desc);
    int64_t total = 0;
    for (int b = 0; b < ng_model_n_blocks(m); b++) total += ng_params_numel(ng_model_block(m, b));
    printf("parameters  %lld", (long long)total);
    if (c->kind == NG_MODEL_GAN)
        printf(" (generator %lld, discriminator %lld)", (long long)ng_params_numel(ng_model_block(m, 0)),
               (long long)ng_params_numel(ng_model_block(m, 1)));
    printf("\n");
    cJSON *j = train ? cJSON_Parse(train) : NULL;
    if (cJSON_IsObject(j)) {
        const cJSON *ep = cJSON_GetObjectItem(j, "epoch"), *eps = cJSON_GetObjectItem(j, "epochs"), *data = cJSON_GetObjectItem(j, "data");
        const cJSON *bt = cJSON_GetObjectItem(j, "batch");
        if (cJSON_IsNumber(ep) && cJSON_IsNumber(eps)) printf("training    epoch %d of %d", ep->valueint, eps->valueint);
        if (cJSON_IsNumber(ep) && cJSON_IsNumber(bt) && bt->valueint > 0)   /* Ctrl-C inside an epoch */
            printf(" (stopped in epoch %d before batch %d)", ep->valueint + 1, bt->valueint + 1);
        if (cJSON_IsString(data)) printf(", data %s", data->valuestring);
        printf("\n");
        static const char *keys[] = {"batch_size", "lr", "beta1", "beta2", "seed", NULL};
        print_settings(j, keys);
    }
    cJSON_Delete(j);
    print_history(path, 1);
    free(path);
    free(train);
    ng_model_free(m);
    return 0;
}

static const cli_flag FLAGS[] = {{0}};
static const cli_cmd CMD = {"info", "usage: nanogen info DIR",
    "  a checkpoint's model, config, parameters, tokenizer (text models), training state and history", FLAGS, 1};

int cmd_info(int argc, char **argv) {
    cli_args a;
    int rc = cli_parse_dir(&CMD, argc, argv, NULL, &a);
    if (rc >= 0) return rc;
    if (cli_parse_only) return 0;   /* the fuzz harness: flags parsed and checked, nothing run */
    const char *dir = a.pos[0];
    ng_model_kind kind;
    if (ng_checkpoint_kind(dir, &kind)) return cli_fail();
    if (!ng_model_kind_is_text(kind)) return info_image(dir);
    ng_model *m = NULL;
    ng_tokenizer *tok = NULL;
    char *train = NULL;
    if (ng_checkpoint_load(dir, &m, &tok, &train)) return cli_fail();
    const ng_model_config *c = ng_model_cfg(m);
    char *path = ng_checkpoint_model_path(dir);
    struct stat st;
    printf("checkpoint  %s (%.1f MB)\n", path ? path : dir, path && stat(path, &st) == 0 ? st.st_size / 1e6 : 0.0);
    printf("model       %s\n", ng_model_kind_name(c->kind));
    char desc[256];
    ng_model_describe(m, desc, sizeof desc);
    printf("config      %s\n", desc);
    printf("parameters  %lld\n", (long long)ng_params_numel(ng_model_params(m)));
    printf("tokenizer   %s, %d tokens:", ng_tok_kind_name(ng_tokenizer_kind(tok)), c->vocab_size);
    const int shown = 256;   /* a whole char vocabulary of an alphabet; the first of a word one */
    for (int i = 0; i < c->vocab_size && i < shown; i++) {
        const char *s = ng_tokenizer_token(tok, i);
        if (!strcmp(s, "\n")) printf(" \\n");
        else if (!strcmp(s, " ")) printf(" ' '");
        else printf(" %s", s);
    }
    printf("%s\n", c->vocab_size > shown ? " ..." : "");
    cJSON *j = train ? cJSON_Parse(train) : NULL;
    if (cJSON_IsObject(j)) {
        const cJSON *step = cJSON_GetObjectItem(j, "step"), *steps = cJSON_GetObjectItem(j, "steps");
        const cJSON *data = cJSON_GetObjectItem(j, "data"), *el = cJSON_GetObjectItem(j, "elapsed_s");
        if (cJSON_IsNumber(step) && cJSON_IsNumber(steps)) printf("training    step %d of %d", step->valueint, steps->valueint);
        if (cJSON_IsNumber(el)) printf(", %.1f s", el->valuedouble);
        if (cJSON_IsString(data)) printf(", data %s", data->valuestring);
        printf("\n");
        static const char *keys[] = {"batch_size", "lr", "min_lr", "warmup", "weight_decay", "grad_clip", "seed", NULL};
        print_settings(j, keys);
    }
    cJSON_Delete(j);
    print_history(path, 0);
    free(path);
    free(train);
    ng_tokenizer_free(tok);
    ng_model_free(m);
    return 0;
}
