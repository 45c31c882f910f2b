/* inspect.c - looking inside a text model: next-token probabilities at a temperature, their
 * entropy, and the attention maps of a token sequence (collected from the KV-cache inference,
 * one row per position). */
#include "core/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int ng_next_probs(const float *logits, int V, float temperature, float *probs) {
    if (V < 1) return ng_set_error("next-token probabilities: vocabulary of %d tokens", V);
    if (!(temperature >= 0) || isinf(temperature)) return ng_set_error("temperature %g: must be a number >= 0", temperature);
    int best = -1;
    for (int i = 0; i < V; i++) {
        if (isnan(logits[i]) || logits[i] == INFINITY) return ng_set_error("logit %d is %g: the model gives no distribution", i, logits[i]);
        if (best < 0 || logits[i] > logits[best]) best = i;
    }
    if (logits[best] == -INFINITY) return ng_set_error("every logit is -inf: the model gives no distribution");
    if (temperature == 0) {   /* the limit T -> 0: all the mass on the argmax (the first of equals) */
        for (int i = 0; i < V; i++) probs[i] = 0;
        probs[best] = 1;
        return NG_OK;
    }
    const double mx = logits[best];
    double sum = 0;
    for (int i = 0; i < V; i++) {
        double e = exp(((double)logits[i] - mx) / temperature);
        probs[i] = (float)e;
        sum += e;
    }
    for (int i = 0; i < V; i++) probs[i] = (float)(probs[i] / sum);
    return NG_OK;
}

double ng_entropy_bits(const float *p, int V) {
    double h = 0;
    for (int i = 0; i < V; i++)
        if (p[i] > 0) h -= p[i] * log2(p[i]);
    return h > 0 ? h : 0;
}

/* ids must be valid tokens of m */
static int check_ids(const ng_model *m, const int32_t *ids, int n) {
    const int V = ng_model_cfg(m)->vocab_size;
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= V) return ng_set_error("token %d (position %d) is not in the model's vocabulary of %d", ids[i], i, V);
    return NG_OK;
}

int ng_model_next_logits(ng_model *m, const int32_t *ids, int n, float *logits) {
    if (n < 1) return ng_set_error("next-token logits: no context tokens");
    if (check_ids(m, ids, n)) return NG_ERR;
    const ng_model_config *c = ng_model_cfg(m);
    int start = n > c->block_size ? n - c->block_size : 0;
    ng_infer *s = ng_infer_new(m, 1);
    if (!s) return NG_ERR;
    const float *l = NULL;
    for (int t = start; t < n; t++) l = ng_infer_step(s, ids + t);
    memcpy(logits, l, sizeof(float) * (size_t)c->vocab_size);
    ng_infer_free(s);
    return NG_OK;
}

int ng_model_attention(ng_model *m, const int32_t *ids, int n, float *att, float *logits) {
    const ng_model_config *c = ng_model_cfg(m);
    if (c->kind != NG_MODEL_GPT) return ng_set_error("a %s model has no attention", ng_model_kind_name(c->kind));
    if (n < 1 || n > c->block_size) return ng_set_error("attention maps: %d tokens, the model takes 1..%d", n, c->block_size);
    if (check_ids(m, ids, n)) return NG_ERR;
    const int L = c->n_layer, H = c->n_head;
    ng_infer *s = ng_infer_new(m, 1);
    if (!s) return NG_ERR;
    memset(att, 0, sizeof(float) * (size_t)L * H * n * n);
    const float *l = NULL;
    for (int t = 0; t < n; t++) {
        l = ng_infer_step(s, ids + t);
        for (int layer = 0; layer < L; layer++) {
            int n_ctx = 0;
            const float *rows = ng_infer_attention(s, layer, 0, &n_ctx);
            if (!rows || n_ctx != t + 1) {
                ng_infer_free(s);
                return ng_set_error("attention maps: no attention for layer %d at position %d", layer, t);
            }
            for (int h = 0; h < H; h++)
                memcpy(att + (((size_t)layer * H + h) * n + t) * n, rows + (size_t)h * c->block_size, sizeof(float) * (size_t)(t + 1));
        }
    }
    if (logits) memcpy(logits, l, sizeof(float) * (size_t)c->vocab_size);
    ng_infer_free(s);
    return NG_OK;
}

/* ------------------------------------------------------------------ the next-token table */
/* Ids sorted by logit, descending (ties: lower id first): the order at every temperature > 0. */
static const float *g_order_logits;
static int by_logit_desc(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    float x = g_order_logits[i], y = g_order_logits[j];
    return x < y ? 1 : x > y ? -1 : i - j;
}

int ng_next_table_compute(ng_model *m, const int32_t *ids, size_t n, const float *temps, int nt, int top, ng_next_table *t) {
    memset(t, 0, sizeof *t);
    const ng_model_config *c = ng_model_cfg(m);
    if (nt < 1 || nt > NG_NEXT_MAX_TEMPS) return ng_set_error("next-token table: %d temperatures (1..%d)", nt, NG_NEXT_MAX_TEMPS);
    if (n < 1) return ng_set_error("next-token table: no context tokens");
    if (n > (1u << 30)) return ng_set_error("the prompt is too long (%zu tokens)", n);
    const int V = c->vocab_size, gpt = c->kind == NG_MODEL_GPT;
    const int ctx = gpt ? (n > (size_t)c->block_size ? c->block_size : (int)n) : 1;
    t->V = V; t->ctx = ctx; t->nt = nt;
    t->logits = malloc(sizeof(float) * V);
    t->probs = malloc(sizeof(float) * (size_t)V * nt);
    t->order = malloc(sizeof(int) * V);
    if (!t->logits || !t->probs || !t->order) { ng_next_table_free(t); return ng_set_error("out of memory"); }
    if (ng_model_next_logits(m, ids + (n - ctx), ctx, t->logits)) { ng_next_table_free(t); return NG_ERR; }
    for (int k = 0; k < nt; k++) {
        t->temps[k] = temps[k];
        if (ng_next_probs(t->logits, V, temps[k], t->probs + (size_t)k * V)) { ng_next_table_free(t); return NG_ERR; }
        t->entropy[k] = ng_entropy_bits(t->probs + (size_t)k * V, V);
    }
    for (int i = 0; i < V; i++) t->order[i] = i;
    g_order_logits = t->logits;
    qsort(t->order, (size_t)V, sizeof *t->order, by_logit_desc);
    t->top = top < V ? top : V;
    for (int k = 0; k < nt; k++) {
        double s = 0;
        for (int r = t->top; r < V; r++) s += t->probs[(size_t)k * V + t->order[r]];
        t->other[k] = s;
    }
    return NG_OK;
}

void ng_next_table_free(ng_next_table *t) {
    free(t->logits); free(t->probs); free(t->order);
    t->logits = t->probs = NULL;
    t->order = NULL;
}

/* ------------------------------------------------------------------ tokens by kind */
enum { K_LVOWEL, K_LCONS, K_CVOWEL, K_CCONS, K_LETTER, K_DIGIT, K_PUNCT, K_SPACE, K_OTHER, K_N };
static const char *const char_kinds[K_N] = {"vowels", "consonants", "capital vowels", "capital consonants",
                                            "letters of other scripts", "digits", "punctuation, symbols",
                                            "space, newline", "other"};
enum { W_LOWER, W_CAP, W_LETTER, W_NUM, W_PUNCT, W_SPECIAL, W_OTHER, W_N };
static const char *const word_kinds[W_N] = {"lowercase words", "capitalised words", "words of other scripts", "numbers",
                                            "punctuation", "<unk>, newline", "other"};

int ng_token_is_space(const char *t) {
    if (!*t) return 0;
    for (; *t; t++) if (*t != ' ' && *t != '\n' && *t != '\t' && *t != '\r') return 0;
    return 1;
}

/* The class of the first code point of t (NG_UC_OTHER for an empty or invalid one), *base as
 * ng_unicode_class gives it; *more: whether other code points follow. */
static ng_uc_class first_class(const char *t, char *base, int *more) {
    uint32_t cp = 0;
    size_t len = strlen(t);
    int k = ng_utf8_decode((const unsigned char *)t, len, &cp);
    *more = k > 0 && (size_t)k < len;
    *base = 0;
    return k > 0 ? ng_unicode_class(cp, base) : NG_UC_OTHER;
}

static int char_kind(const char *t) {
    char b;
    int more;
    ng_uc_class k = first_class(t, &b, &more);
    if (ng_token_is_space(t)) return K_SPACE;
    if (more) return K_OTHER;
    if (k == NG_UC_LETTER && b) {
        int vowel = strchr("aeiouAEIOU", b) != NULL, cap = b >= 'A' && b <= 'Z';
        return cap ? (vowel ? K_CVOWEL : K_CCONS) : (vowel ? K_LVOWEL : K_LCONS);
    }
    return k == NG_UC_LETTER ? K_LETTER : k == NG_UC_DIGIT ? K_DIGIT : k == NG_UC_PUNCT ? K_PUNCT
         : k == NG_UC_SPACE ? K_SPACE : K_OTHER;
}

static int word_kind(const char *t) {
    if (!strcmp(t, "<unk>") || ng_token_is_space(t)) return W_SPECIAL;
    char b;
    int more;
    ng_uc_class k = first_class(t, &b, &more);
    if (k == NG_UC_LETTER) return !b ? W_LETTER : b >= 'A' && b <= 'Z' ? W_CAP : W_LOWER;
    return k == NG_UC_DIGIT ? W_NUM : k == NG_UC_PUNCT ? W_PUNCT : W_OTHER;
}

int ng_token_kind(const char *t, int word) { return word ? word_kind(t) : char_kind(t); }

const char *const *ng_token_kind_names(int word, int *n) {
    *n = word ? W_N : K_N;
    return word ? word_kinds : char_kinds;
}

/* ------------------------------------------------------------------ embeddings in 2-D */
/* Without a text to count tokens in: the order in which a char model's tokens are shown
 * (lowest first). Lowercase Latin letters, then capitals, alphabetically with the accented
 * letters beside their base letter (a à á â ã b c ç d e é ...), then the letters of other
 * scripts, digits, punctuation and symbols, spaces and the rest, each by code point. */
static void fallback_rank(const char *t, int *group, int *letter, uint32_t *cp) {
    char b;
    int more;
    ng_uc_class k = first_class(t, &b, &more);
    *cp = 0;
    ng_utf8_decode((const unsigned char *)t, strlen(t), cp);
    *letter = b ? (b | 0x20) : 0;
    *group = k == NG_UC_LETTER ? (!b ? 2 : b >= 'A' && b <= 'Z' ? 1 : 0)
           : k == NG_UC_DIGIT ? 3 : k == NG_UC_PUNCT ? 4 : k == NG_UC_SPACE ? 5 : 6;
}
static const ng_tokenizer *g_rank_tok;
static int by_fallback_rank(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b, gi, gj, li, lj;
    uint32_t ci, cj;
    fallback_rank(ng_tokenizer_token(g_rank_tok, i), &gi, &li, &ci);
    fallback_rank(ng_tokenizer_token(g_rank_tok, j), &gj, &lj, &cj);
    if (gi != gj) return gi - gj;
    if (li != lj) return li - lj;
    if (ci != cj) return ci < cj ? -1 : 1;
    return i - j;
}

/* Token ids by count, descending (ties: lower id first). */
static const long long *g_counts;
static int by_count_desc(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    return g_counts[i] < g_counts[j] ? 1 : g_counts[i] > g_counts[j] ? -1 : i - j;
}

int ng_embeddings_2d(ng_model *m, const ng_tokenizer *tok, const int32_t *text, size_t n_text, int N, ng_embeddings_view *v) {
    memset(v, 0, sizeof *v);
    const ng_model_config *c = ng_model_cfg(m);
    if (!ng_model_kind_is_text(c->kind)) return ng_set_error("token embeddings: a %s has no tokens", ng_model_kind_name(c->kind));
    const int V = c->vocab_size, word = ng_tokenizer_kind(tok) == NG_TOK_WORD;
    const ng_tensor *table = ng_params_find(ng_model_params(m), c->kind == NG_MODEL_GPT ? "wte.weight" : "table.weight");
    if (!table) return ng_set_error("the model has no embedding table");
    const int D = v->dim = (int)table->ne[1];
    int *sel = malloc(sizeof(int) * V), n = 0, rc = NG_ERR;
    long long *counts = calloc((size_t)V, sizeof *counts);
    float *rows = NULL;
    double *proj = NULL;
    if (!sel || !counts) { ng_set_error("out of memory"); goto done; }
    for (int i = 0; i < V; i++) sel[i] = i;
    if (text) {   /* the N most frequent tokens of the text */
        for (size_t i = 0; i < n_text; i++) if (text[i] >= 0 && text[i] < V) counts[text[i]]++;
        g_counts = counts;
        qsort(sel, (size_t)V, sizeof *sel, by_count_desc);
        while (n < V && n < N && counts[sel[n]] > 0) n++;
        v->order = NG_EMB_BY_COUNT;
    } else if (word) {   /* word ids are in training-frequency order after <unk> */
        for (int i = 1; i < V && n < N; i++) sel[n++] = i;
        v->order = NG_EMB_WORDS;
    } else if (V <= N) {
        n = V;
        v->order = NG_EMB_ALL;
    } else {
        g_rank_tok = tok;
        qsort(sel, (size_t)V, sizeof *sel, by_fallback_rank);
        n = N;
        v->order = NG_EMB_LETTERS_FIRST;
    }
    if (n < 2) { ng_set_error("only %d token%s to show: PCA needs at least 2", n, n == 1 ? "" : "s"); goto done; }
    rows = malloc(sizeof(float) * (size_t)n * D);
    proj = malloc(sizeof(double) * 2 * n);
    v->ids = malloc(sizeof(int) * n); v->kind = malloc(sizeof(int) * n);
    v->x = malloc(sizeof(double) * n); v->y = malloc(sizeof(double) * n);
    if (!rows || !proj || !v->ids || !v->kind || !v->x || !v->y) { ng_set_error("out of memory"); goto done; }
    for (int i = 0; i < n; i++) memcpy(rows + (size_t)i * D, table->data + (size_t)sel[i] * D, sizeof(float) * D);
    if (ng_pca(rows, n, D, 2, NULL, v->explained, proj)) goto done;
    for (int i = 0; i < n; i++) {
        v->ids[i] = sel[i];
        v->x[i] = proj[2 * i]; v->y[i] = proj[2 * i + 1];
        v->kind[i] = ng_token_kind(ng_tokenizer_token(tok, sel[i]), word);
    }
    v->n = n;
    rc = NG_OK;
done:
    if (rc) ng_embeddings_view_free(v);
    free(sel); free(counts); free(rows); free(proj);
    return rc;
}

void ng_embeddings_view_free(ng_embeddings_view *v) {
    free(v->ids); free(v->kind); free(v->x); free(v->y);
    v->ids = v->kind = NULL;
    v->x = v->y = NULL;
    v->n = 0;
}

/* ------------------------------------------------------------------ attention summaries */
void ng_attention_head_summary(const float *a, int n, double out[4]) {
    double self = 0, prev = 0, first = 0, dist = 0;
    for (int i = 0; i < n; i++) {
        self += a[(size_t)i * n + i];
        if (i > 0) prev += a[(size_t)i * n + i - 1];
        if (i > 0) first += a[(size_t)i * n];
        for (int j = 0; j <= i; j++) dist += a[(size_t)i * n + j] * (i - j);
    }
    out[0] = self / n;
    out[1] = n > 1 ? prev / (n - 1) : 0.0;
    out[2] = n > 1 ? first / (n - 1) : 0.0;
    out[3] = dist / n;
}
