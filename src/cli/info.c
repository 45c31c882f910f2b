/* info.c - `nanogen info DIR`: config, parameter count, tokenizer, training state and history. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int cmd_info(int argc, char **argv) {
    if (argc != 1 || argv[0][0] == '-') return cli_usage_error("usage: nanogen info DIR");
    if (cli_parse_only) return 0;   /* the fuzz harness: flags parsed and checked, nothing run */
    const char *dir = argv[0];
    ng_model *m = NULL;
    ng_tokenizer *tok = NULL;
    char *train = NULL;
    if (ng_checkpoint_load(dir, &m, &tok, &train)) return cli_fail();
    const ng_model_config *c = ng_model_cfg(m);
    char *path = ng_checkpoint_model_path(dir);
    struct stat st;
    printf("checkpoint  %s (%.1f MB)\n", path, path && stat(path, &st) == 0 ? st.st_size / 1e6 : 0.0);
    printf("model       %s\n", ng_model_kind_name(c->kind));
    if (c->kind == NG_MODEL_GPT)
        printf("config      block_size %d, n_layer %d, n_head %d, n_embd %d, dropout %g\n", c->block_size, c->n_layer, c->n_head, c->n_embd, c->dropout);
    else
        printf("config      block_size %d\n", c->block_size);
    printf("parameters  %lld\n", (long long)ng_params_numel(ng_model_params(m)));
    printf("tokenizer   %s, %d tokens:", ng_tokenizer_kind(tok) == NG_TOK_CHAR ? "char" : "word", c->vocab_size);
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
        const char *keys[] = {"batch_size", "lr", "min_lr", "warmup", "weight_decay", "grad_clip", "seed"};
        printf("settings   ");
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
            const cJSON *v = cJSON_GetObjectItem(j, keys[k]);
            if (cJSON_IsNumber(v)) printf(" %s %g", keys[k], v->valuedouble);
            else if (cJSON_IsString(v)) printf(" %s %s", keys[k], v->valuestring);
        }
        printf("\n");
    }
    cJSON_Delete(j);
    /* history: the evaluations recorded in metrics.jsonl */
    char *mdir = path ? strdup(path) : NULL;
    if (mdir) {
        char *slash = strrchr(mdir, '/');
        if (slash) *slash = 0; else strcpy(mdir, ".");
        size_t len = strlen(mdir) + 32;
        char *mp = malloc(len);
        if (mp) {
            snprintf(mp, len, "%s/metrics.jsonl", mdir);
            FILE *f = fopen(mp, "r");
            if (f) {
                char line[4096];
                int header = 0;
                while (fgets(line, sizeof line, f)) {
                    cJSON *e = cJSON_Parse(line);
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
            free(mp);
        }
        free(mdir);
    }
    free(path);
    free(train);
    ng_tokenizer_free(tok);
    ng_model_free(m);
    return 0;
}
