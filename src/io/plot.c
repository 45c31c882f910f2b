/* plot.c - the loss curves of a run (DIR/metrics.jsonl) as an SVG chart (`nanogen plot DIR`).
 *
 * x axis: "step" when the file has it, else "epoch" (or --x). Series: the loss-like keys
 * (loss, train_loss, val_loss, full_val_loss, test_loss, d_loss, g_loss, any other *_loss) and
 * the GAN discriminator outputs d_real = D(x), d_fake = D(G(z)), or exactly --keys. The noisy
 * per-step "loss" is thin and light, evaluations are thick with point markers, probabilities
 * go on a right axis [0, 1] (dashed). Lines that are not JSON objects are skipped with a
 * warning; a step that comes again (a resumed run) replaces what was logged after it. */
#include "core/internal.h"
#include "io/svg.h"

#include <stdarg.h>
#include <stdio.h>
#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const KNOWN[] = {"loss", "train_loss", "val_loss", "full_val_loss", "test_loss",
                                    "d_loss", "g_loss", "d_real", "d_fake"};
#define N_KNOWN (int)(sizeof KNOWN / sizeof *KNOWN)

typedef struct {
    char *key;
    double *x, *y;
    size_t n, cap;
    int right, noisy;
} series;

static int is_prob(const char *k) { return !strcmp(k, "d_real") || !strcmp(k, "d_fake"); }
static int is_eval(const char *k) {
    return !strcmp(k, "train_loss") || !strcmp(k, "val_loss") || !strcmp(k, "test_loss") || !strcmp(k, "full_val_loss");
}
static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static const char *key_color(const char *k, int *next) {
    static const struct { const char *key, *color; } fixed[] = {
        {"loss", "#1f77b4"}, {"train_loss", "#1f77b4"}, {"val_loss", "#ff7f0e"}, {"full_val_loss", "#d62728"},
        {"test_loss", "#ff7f0e"}, {"d_loss", "#9467bd"}, {"g_loss", "#2ca02c"}, {"d_real", "#17becf"}, {"d_fake", "#e377c2"}};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        if (!strcmp(fixed[i].key, k)) return fixed[i].color;
    /* other keys: palette colours the fixed ones do not use (brown, grey, olive, ...) */
    static const char *rest[] = {"#8c564b", "#7f7f7f", "#bcbd22", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173"};
    return rest[(*next)++ % (int)(sizeof rest / sizeof *rest)];
}

/* Append (x, y); a point at or before the previous x (a resumed run logging again) first
 * drops the points from that x on, so the last record of a step wins. */
static int series_add(series *s, double x, double y) {
    while (s->n > 0 && s->x[s->n - 1] >= x) s->n--;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        double *nx = realloc(s->x, cap * sizeof *nx);
        if (!nx) return ng_set_error("out of memory");
        s->x = nx;
        double *ny = realloc(s->y, cap * sizeof *ny);
        if (!ny) return ng_set_error("out of memory");
        s->y = ny;
        s->cap = cap;
    }
    s->x[s->n] = x;
    s->y[s->n] = y;
    s->n++;
    return NG_OK;
}

/* Numeric keys in order of first appearance. */
typedef struct { char **k; int n, cap; } keylist;
static int keylist_has(const keylist *l, const char *k) {
    for (int i = 0; i < l->n; i++) if (!strcmp(l->k[i], k)) return 1;
    return 0;
}
static int keylist_add(keylist *l, const char *k) {
    if (keylist_has(l, k)) return NG_OK;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        char **p = realloc(l->k, cap * sizeof *p);
        if (!p) return ng_set_error("out of memory");
        l->k = p; l->cap = cap;
    }
    if (!(l->k[l->n] = strdup(k))) return ng_set_error("out of memory");
    l->n++;
    return NG_OK;
}
static void keylist_free(keylist *l) {
    for (int i = 0; i < l->n; i++) free(l->k[i]);
    free(l->k);
}
/* "a, b, c" (at most ~300 characters) for error messages. */
static void keylist_join(const keylist *l, char *buf, size_t cap) {
    buf[0] = 0;
    size_t used = 0;
    for (int i = 0; i < l->n; i++) {
        int k = snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", l->k[i]);
        if (k < 0 || (size_t)k >= cap - used) { if (cap > 4) strcpy(buf + cap - 4, "..."); return; }
        used += (size_t)k;
    }
}

static void fmt_value(char *buf, size_t cap, double v) {
    if (fabs(v) >= 1e5 || (v != 0 && fabs(v) < 1e-3)) snprintf(buf, cap, "%.3g", v);
    else snprintf(buf, cap, "%.4g", v);
}

/* a warning through the settings' callback (dropped without one) */
static void warn(const ng_plot_settings *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(const ng_plot_settings *s, const char *fmt, ...) {
    if (!s->warn) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    s->warn(buf, s->ctx);
}

int ng_plot_metrics(const ng_plot_settings *set, ng_plot_result *res) {
    const char *dir = set->path, *out = set->out, *keys_arg = set->keys, *xarg = set->x, *title_arg = set->title;
    const int log_y = set->log_y;
    memset(res, 0, sizeof *res);
    if (!dir || !*dir) return ng_set_error("plot: no run directory or metrics file given");
    if (xarg && strcmp(xarg, "step") && strcmp(xarg, "epoch")) return ng_set_error("--x: '%s' is not step or epoch", xarg);
    int code = NG_ERR;
    char *path = NULL, *rundir = NULL, *text = NULL, *outbuf = NULL;
    cJSON **recs = NULL;
    size_t n_recs = 0;
    keylist numeric = {0}, chosen = {0};
    series *S = NULL;
    int nS = 0;
    ng_svg_chart *chart = NULL;

    /* DIR or DIR/metrics.jsonl */
    struct stat st;
    size_t dl = strlen(dir);
    if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
        path = strdup(dir);
        rundir = strdup(dir);
        if (!path || !rundir) { ng_set_error("out of memory"); goto fail; }
        char *slash = strrchr(rundir, '/');
        if (slash == rundir) rundir[1] = 0;
        else if (slash) *slash = 0;
        else strcpy(rundir, ".");
    } else {
        while (dl > 1 && dir[dl - 1] == '/') dl--;
        path = malloc(dl + 32);
        rundir = malloc(dl + 1);
        if (!path || !rundir) { ng_set_error("out of memory"); goto fail; }
        memcpy(rundir, dir, dl);
        rundir[dl] = 0;
        snprintf(path, dl + 32, "%s/metrics.jsonl", rundir);
    }
    size_t len = 0;
    text = ng_read_file(path, &len);
    if (!text) goto fail;

    /* parse: one JSON object per line; blank lines are ignored, others that fail are counted */
    size_t n_lines = 0, n_bad = 0, first_bad = 0;
    for (const char *p = text; *p; p++) n_lines += *p == '\n';
    n_lines++;
    recs = calloc(n_lines ? n_lines : 1, sizeof *recs);
    if (!recs) { ng_set_error("out of memory reading '%s'", path); goto fail; }
    size_t lineno = 0;
    const char *end = text + strlen(text);
    for (char *p = text; *p;) {
        /* memchr, not strchr: under ASan's strict_string_checks every strchr reads to the end of
         * the text, which made 100k lines quadratic (minutes) */
        char *e = memchr(p, '\n', (size_t)(end - p));
        if (e) *e = 0;
        lineno++;
        const char *q = p;
        while (*q == ' ' || *q == '\t' || *q == '\r') q++;
        if (*q) {
            cJSON *j = cJSON_Parse(q);
            if (cJSON_IsObject(j)) recs[n_recs++] = j;
            else { cJSON_Delete(j); if (!n_bad++) first_bad = lineno; }
        }
        p = e ? e + 1 : (char *)end;
    }
    if (n_recs == 0 && n_bad == 0) { ng_set_error("'%s' is empty: no metrics recorded yet", path); goto fail; }
    if (n_recs == 0) {
        ng_set_error("'%s': none of its %zu lines is a JSON object (line %zu is malformed)", path, n_bad, first_bad);
        goto fail;
    }
    if (n_bad)
        warn(set, "warning: skipped %zu malformed line%s of '%s' (first: line %zu)\n", n_bad,
                n_bad == 1 ? "" : "s", path, first_bad);

    for (size_t r = 0; r < n_recs; r++)
        for (const cJSON *it = recs[r]->child; it; it = it->next)
            if (cJSON_IsNumber(it) && it->string && keylist_add(&numeric, it->string)) goto fail;
    char avail[320];
    keylist_join(&numeric, avail, sizeof avail);

    const char *xkey = xarg;
    if (!xkey) xkey = keylist_has(&numeric, "step") ? "step" : keylist_has(&numeric, "epoch") ? "epoch" : NULL;
    if (!xkey) { ng_set_error("'%s' has no \"step\" or \"epoch\" to plot against (numeric keys: %s)", path, numeric.n ? avail : "none"); goto fail; }
    if (!keylist_has(&numeric, xkey)) { ng_set_error("--x %s: no line of '%s' has a numeric \"%s\"", xkey, path, xkey); goto fail; }

    /* the series */
    if (keys_arg) {
        const char *p = keys_arg;
        while (*p) {
            const char *e = strchr(p, ',');
            size_t kl = e ? (size_t)(e - p) : strlen(p);
            while (kl && (*p == ' ' || *p == '\t')) { p++; kl--; }
            while (kl && (p[kl - 1] == ' ' || p[kl - 1] == '\t')) kl--;
            if (kl) {
                char *k = strndup(p, kl);
                if (!k) { ng_set_error("out of memory"); goto fail; }
                if (!keylist_has(&numeric, k)) {
                    ng_set_error("--keys: unknown key '%s': '%s' has no numeric \"%s\" (numeric keys: %s)", k, path, k, avail);
                    free(k);
                    goto fail;
                }
                int rc = keylist_add(&chosen, k);
                free(k);
                if (rc) goto fail;
            }
            if (!e) break;
            p = e + 1;
        }
        if (chosen.n == 0) { ng_set_error("--keys: no key given in '%s'", keys_arg); goto fail; }
    } else {
        for (int i = 0; i < N_KNOWN; i++)
            if (keylist_has(&numeric, KNOWN[i]) && keylist_add(&chosen, KNOWN[i])) goto fail;
        for (int i = 0; i < numeric.n; i++)
            if (ends_with(numeric.k[i], "_loss") && keylist_add(&chosen, numeric.k[i])) goto fail;
        if (chosen.n == 0) {
            ng_set_error("'%s' has no loss series to plot (numeric keys: %s); choose some with --keys", path, avail);
            goto fail;
        }
    }
    S = calloc((size_t)chosen.n, sizeof *S);
    if (!S) { ng_set_error("out of memory"); goto fail; }
    size_t no_x = 0, nonfinite = 0, nonpos = 0;
    for (int k = 0; k < chosen.n; k++) S[k].key = chosen.k[k];
    nS = chosen.n;
    for (size_t r = 0; r < n_recs; r++) {
        const cJSON *xv = cJSON_GetObjectItemCaseSensitive(recs[r], xkey);
        int counted = 0;
        for (int k = 0; k < nS; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(recs[r], S[k].key);
            if (!cJSON_IsNumber(v)) continue;
            if (!cJSON_IsNumber(xv)) { if (!counted++) no_x++; continue; }
            double x = xv->valuedouble, y = v->valuedouble;
            if (!isfinite(x) || !isfinite(y)) { nonfinite++; continue; }
            if (log_y && y <= 0 && !is_prob(S[k].key)) { nonpos++; continue; }
            if (series_add(&S[k], x, y)) goto fail;
        }
    }
    if (no_x)
        warn(set, "warning: %zu line%s of '%s' with values but no \"%s\" left out%s\n", no_x,
                no_x == 1 ? "" : "s", path, xkey, !xarg && strcmp(xkey, "epoch") && keylist_has(&numeric, "epoch") ? " (try --x epoch)" : "");
    if (nonfinite) warn(set, "warning: %zu non-finite value%s left out\n", nonfinite, nonfinite == 1 ? "" : "s");
    if (nonpos) warn(set, "warning: %zu value%s <= 0 left out of the log axis\n", nonpos, nonpos == 1 ? "" : "s");
    /* keys given with --keys must show; default series without points are dropped */
    int kept = 0;
    for (int k = 0; k < nS; k++) {
        if (S[k].n == 0) {
            if (keys_arg) { ng_set_error("--keys: '%s' has no plottable value of \"%s\" against \"%s\" in '%s'", S[k].key, S[k].key, xkey, path); goto fail; }
            free(S[k].x); free(S[k].y);
            continue;
        }
        S[kept++] = S[k];
    }
    nS = kept;
    if (nS == 0) { ng_set_error("'%s': no numeric series to plot against \"%s\"", path, xkey); goto fail; }

    /* axes: probabilities on the right when something else is on the left */
    int n_prob = 0;
    for (int k = 0; k < nS; k++) n_prob += is_prob(S[k].key);
    int use_y2 = n_prob > 0 && n_prob < nS;
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY, y2min = 0, y2max = 1;
    for (int k = 0; k < nS; k++) {
        S[k].right = use_y2 && is_prob(S[k].key);
        S[k].noisy = !strcmp(S[k].key, "loss") || (!is_eval(S[k].key) && S[k].n > 200);
        for (size_t i = 0; i < S[k].n; i++) {
            xmin = fmin(xmin, S[k].x[i]); xmax = fmax(xmax, S[k].x[i]);
            if (S[k].right) { y2min = fmin(y2min, S[k].y[i]); y2max = fmax(y2max, S[k].y[i]); }
            else { ymin = fmin(ymin, S[k].y[i]); ymax = fmax(ymax, S[k].y[i]); }
        }
    }
    if (n_prob == nS && !log_y) { ymin = fmin(ymin, 0); ymax = fmax(ymax, 1); }
    if (log_y && ymin <= 0) { ng_set_error("--log-y: '%s' has no positive values to plot", path); goto fail; }

    /* title and labels */
    char title[256], subtitle[512], ylabel[128] = "", y2label[128] = "";
    if (title_arg) snprintf(title, sizeof title, "%s", title_arg);
    else {
        char *real = realpath(rundir, NULL);
        const char *base = real ? real : rundir;
        const char *slash = strrchr(base, '/');
        snprintf(title, sizeof title, "%s", slash && slash[1] ? slash + 1 : base);
        free(real);
    }
    int sl = snprintf(subtitle, sizeof subtitle, "%s \xC2\xB7 %zu record%s \xC2\xB7 %s %g", path, n_recs, n_recs == 1 ? "" : "s", xkey, xmin);
    if (xmax > xmin && sl > 0 && (size_t)sl < sizeof subtitle) snprintf(subtitle + sl, sizeof subtitle - sl, " to %g", xmax);
    if (xmin == xmax) { if (xmin >= 1) xmin -= 1; xmax += 1; }   /* one x: no negative steps */
    int all_loss = 1;
    for (int k = 0; k < nS; k++) if (!S[k].right && !ends_with(S[k].key, "loss")) all_loss = 0;
    if (n_prob == nS) snprintf(ylabel, sizeof ylabel, "D output (probability)");
    else snprintf(ylabel, sizeof ylabel, "%s%s", all_loss ? "loss" : "value", log_y ? " (log scale)" : "");
    if (use_y2) snprintf(y2label, sizeof y2label, "D(x), D(G(z)) (dashed)");

    ng_svg_chart_spec spec = {.title = title, .subtitle = subtitle, .xlabel = xkey, .ylabel = ylabel,
                           .xmin = xmin, .xmax = xmax, .x_integer = 1, .ymin = ymin, .ymax = ymax, .log_y = log_y,
                           .y2 = use_y2, .y2min = y2min, .y2max = y2max, .y2label = use_y2 ? y2label : NULL};
    chart = ng_svg_chart_begin(&spec);
    if (!chart) goto fail;
    /* noisy series first (underneath), then the rest in key order */
    int next_color = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int k = 0; k < nS; k++) {
            const series *s = &S[k];
            if (s->noisy != (pass == 0)) continue;
            char note[64];
            fmt_value(note, sizeof note, s->y[s->n - 1]);
            ng_svg_style st = {.label = s->key, .note = note, .color = key_color(s->key, &next_color)};
            if (s->noisy) { st.width = 1.0; st.opacity = 0.45; }
            else if (s->n == 1) { st.width = 2.0; st.marker = SVG_MARK_DIAMOND; st.marker_r = 5; }
            else { st.width = 2.2; st.marker = s->n <= 60 ? SVG_MARK_CIRCLE : SVG_MARK_NONE; st.marker_r = 3; }
            if (s->right) { st.dash = "6 3"; st.right = 1; if (s->noisy) { st.width = 1.2; st.opacity = 0.6; } }
            if (ng_svg_chart_line(chart, s->x, s->y, s->n, &st)) goto fail;
        }
    }
    if (!out) {
        size_t ol = strlen(rundir) + 16;
        outbuf = malloc(ol);
        if (!outbuf) { ng_set_error("out of memory"); goto fail; }
        snprintf(outbuf, ol, "%s/loss.svg", rundir);
        out = outbuf;
    }
    int wrc = ng_svg_chart_write(chart, out);
    chart = NULL;
    if (wrc) goto fail;
    snprintf(res->out, sizeof res->out, "%s", out);
    snprintf(res->xkey, sizeof res->xkey, "%s", xkey);
    res->n_series = nS;
    for (int k = 0, o = 0; k < nS && o < (int)sizeof res->keys; k++)
        o += snprintf(res->keys + o, sizeof res->keys - o, "%s%s", k ? ", " : "", S[k].key);
    code = 0;
    goto done;
fail:
done:
    ng_svg_chart_free(chart);
    for (int k = 0; k < nS; k++) { free(S[k].x); free(S[k].y); }
    free(S);
    keylist_free(&chosen);
    keylist_free(&numeric);
    for (size_t r = 0; r < n_recs; r++) cJSON_Delete(recs[r]);
    free(recs);
    free(text);
    free(path);
    free(rundir);
    free(outbuf);
    return code;
}
