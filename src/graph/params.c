/* params.c - named parameters in one flat block (and their gradients in another), so the
 * optimizer and the checkpoint code are flat loops. Each tensor starts 64-byte aligned. */
#include "core/internal.h"

#include <stdlib.h>
#include <string.h>

struct ng_params {
    ng_tensor **t;
    int *decay;
    int64_t *offset;     /* in floats, into data/grad */
    int n, cap;
    int64_t total;       /* floats including alignment padding */
    int64_t numel;       /* real parameters */
    float *data, *grad;
};

ng_params *ng_params_new(void) {
    ng_params *P = calloc(1, sizeof *P);
    if (!P) ng_set_error("out of memory creating parameters");
    return P;
}

void ng_params_free(ng_params *P) {
    if (!P) return;
    for (int i = 0; i < P->n; i++) free(P->t[i]);
    free(P->t); free(P->decay); free(P->offset);
    ng_free_aligned(P->data); ng_free_aligned(P->grad);
    free(P);
}

ng_tensor *ng_param(ng_params *P, const char *name, int ndim, const int64_t *ne, int decay) {
    if (P->data) { ng_set_error("parameter %s declared after allocation", name); return NULL; }
    if (ndim < 1 || ndim > NG_MAX_DIMS) { ng_set_error("parameter %s: %d dims", name, ndim); return NULL; }
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (ne[i] <= 0 || n > ((int64_t)1 << 40) / ne[i]) { ng_set_error("parameter %s: bad dimension %lld", name, (long long)ne[i]); return NULL; }
        n *= ne[i];
    }
    if (P->n == P->cap) {
        int cap = P->cap ? 2 * P->cap : 32;
        ng_tensor **t = realloc(P->t, cap * sizeof *t);
        if (t) P->t = t;
        int *d = realloc(P->decay, cap * sizeof *d);
        if (d) P->decay = d;
        int64_t *o = realloc(P->offset, cap * sizeof *o);
        if (o) P->offset = o;
        if (!t || !d || !o) { ng_set_error("out of memory declaring parameters"); return NULL; }
        P->cap = cap;
    }
    ng_tensor *t = calloc(1, sizeof *t);
    if (!t) { ng_set_error("out of memory declaring %s", name); return NULL; }
    t->op = NG_OP_LEAF; t->ndim = ndim; t->n = n;
    for (int i = 0; i < ndim; i++) t->ne[i] = ne[i];
    t->requires_grad = 1; t->is_param = 1; t->id = -1;
    snprintf(t->name, sizeof t->name, "%s", name);
    P->t[P->n] = t;
    P->decay[P->n] = decay;
    P->offset[P->n] = P->total;
    P->total += (n + 15) / 16 * 16;
    P->numel += n;
    P->n++;
    return t;
}

int ng_params_alloc(ng_params *P) {
    size_t bytes = (size_t)P->total * sizeof(float);
    P->data = ng_alloc_aligned(bytes, "parameters");
    P->grad = ng_alloc_aligned(bytes, "gradients");
    if (!P->data || !P->grad) return NG_ERR;
    for (int i = 0; i < P->n; i++) {
        P->t[i]->data = P->data + P->offset[i];
        P->t[i]->grad = P->grad + P->offset[i];
    }
    return NG_OK;
}

int ng_params_count(const ng_params *P) { return P->n; }
ng_tensor *ng_params_get(const ng_params *P, int i) { return (i >= 0 && i < P->n) ? P->t[i] : NULL; }
int ng_params_decays(const ng_params *P, int i) { return (i >= 0 && i < P->n) ? P->decay[i] : 0; }
int64_t ng_params_numel(const ng_params *P) { return P->numel; }
int64_t ng_params_total(const ng_params *P) { return P->total; }
float *ng_params_data(ng_params *P) { return P->data; }
float *ng_params_grad(ng_params *P) { return P->grad; }

ng_tensor *ng_params_find(const ng_params *P, const char *name) {
    for (int i = 0; i < P->n; i++)
        if (strcmp(P->t[i]->name, name) == 0) return P->t[i];
    return NULL;
}

void ng_params_zero_grad(ng_params *P) {
    if (P->grad) memset(P->grad, 0, (size_t)P->total * sizeof(float));
}
