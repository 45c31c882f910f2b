/* flags.c - one parser for every command's flags: each command declares a table of its flags
 * (cli_flag: a definition, where the value goes, its default); flags used by several commands
 * are defined once here (cli_def_*), with one meaning and one range everywhere. The parser
 * checks types and ranges, prints --help from the table (exit 0), and answers a usage error
 * with one line naming the flag and the problem, a "did you mean" for a near miss, and a
 * pointer to the command's --help (exit 2). */
#include "cli.h"
#include "train/ranges.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* the flags several commands share */
const cli_flagdef cli_def_seed = {"--seed", CLI_U64, 0, 0, "S", "random seed: the same seed gives the same result"};
const cli_flagdef cli_def_threads = {"--threads", CLI_INT, 0, 1024, "N", "threads (0: every CPU, fewer while other programs use them)"};
const cli_flagdef cli_def_temperature = {"--temperature", CLI_FLOATS, 0, 100, "T", "softmax temperature (0: always the most likely token); a list: 0.5,1,2 or 0.5 1 2 or repeated"};
const cli_flagdef cli_def_top_k = {"--top-k", CLI_INT, 0, 1 << 30, "K", "sample from the K most likely tokens only (0: all)"};
const cli_flagdef cli_def_top_p = {"--top-p", CLI_FLOAT, 0, 1, "P", "sample from the smallest set of tokens whose probabilities sum to P"};
const cli_flagdef cli_def_data = {"--data", CLI_STR, 0, 0, "D", "the data: a text file, or fashion-mnist | mnist | an IDX folder | a folder of pictures"};
const cli_flagdef cli_def_prompt = {"--prompt", CLI_STR, 0, 0, "TEXT", "the text to start from"};
const cli_flagdef cli_def_prompt_file = {"--prompt-file", CLI_STR, 0, 0, "F", "the prompt from a file"};
const cli_flagdef cli_def_batch_size = {"--batch-size", CLI_INT, R_BATCH, "B", "batch size"};
const cli_flagdef cli_def_block_size = {"--block-size", CLI_INT, 1, 1 << 20, "T", "context length in tokens"};
const cli_flagdef cli_def_n_head = {"--n-head", CLI_INT, 1, 1024, "H", "attention heads (n_embd divisible by it)"};
const cli_flagdef cli_def_n = {"--n", CLI_INT, 1, 1000000, "N", "pictures to generate"};
const cli_flagdef cli_def_out_file = {"--out", CLI_STR, 0, 0, "FILE", "the picture or chart to write (.png; .svg for charts)"};
const cli_flagdef cli_def_noise = {"--noise", CLI_STR, 0, 0, "gaussian:S|mask:P", "a corruption: Gaussian noise of std S (0..10) or pixels zeroed with probability P (0..1)"};
const cli_flagdef cli_def_zoom = {"--zoom", CLI_INT, 1, 32, "Z", "pixels per picture pixel"};

/* Damerau-Levenshtein distance (a swap of two neighbours costs 1) */
static int edit_distance(const char *a, const char *b) {
    size_t n = strlen(a), m = strlen(b);
    if (n > 64 || m > 64) return 99;
    int d[65][65];
    for (size_t i = 0; i <= n; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            int x = d[i - 1][j] + 1, y = d[i][j - 1] + 1, z = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            d[i][j] = x < y ? (x < z ? x : z) : (y < z ? y : z);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < d[i][j]) d[i][j] = d[i - 2][j - 2] + 1;
        }
    return d[n][m];
}

const char *cli_did_you_mean(const char *word, const char *const *names, int n) {
    const char *best = NULL;
    int bd = 99;
    for (int i = 0; i < n; i++) {
        int d = edit_distance(word, names[i]);
        if (d < bd) { bd = d; best = names[i]; }
    }
    size_t len = strlen(word);
    return best && bd <= (len > 6 ? 3 : len > 3 ? 2 : 1) ? best : NULL;
}

int cli_usage_fail(const char *cmd) {
    fprintf(stderr, "nanogen: %s (nanogen %s --help)\n", ng_last_error(), cmd);
    return 2;
}

void cli_help(const cli_cmd *c) {
    printf("%s\n", c->usage);
    if (c->about) printf("%s\n", c->about);
    printf("flags:\n");
    for (const cli_flag *f = c->flags; f->def; f++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", f->def->name, f->def->type == CLI_FLAG ? "" : " ",
                 f->def->type == CLI_FLAG ? "" : f->def->arg);
        printf("  %-20s %s", left, f->help ? f->help : f->def->help);
        if (f->dflt) printf(" (default %s)", f->dflt);
        if (f->def->type == CLI_INT) printf(" [%lld, %lld]", (long long)f->def->lo, (long long)f->def->hi);
        if (f->def->type == CLI_FLOAT || f->def->type == CLI_FLOATS) printf(" [%g, %g]", f->def->lo, f->def->hi);
        printf("\n");
    }
    printf("  %-20s %s\n", "-h, --help", "this help");
}

/* a number of the flag's type within its range into v; NG_ERR + error naming the flag */
static int parse_number(const cli_flagdef *d, const char *s, double *v) {
    char *end;
    errno = 0;
    if (d->type == CLI_INT) {
        long long x = strtoll(s, &end, 10);
        if (errno || end == s || *end) return ng_set_error("%s: '%s' is not an integer", d->name, s);
        if (x < d->lo || x > d->hi) return ng_set_error("%s: %lld is out of range [%lld, %lld]", d->name, x, (long long)d->lo, (long long)d->hi);
        *v = (double)x;
        return NG_OK;
    }
    double x = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(x)) return ng_set_error("%s: '%s' is not a number", d->name, s);
    if (x < d->lo || x > d->hi) return ng_set_error("%s: %s is out of range [%g, %g]", d->name, s, d->lo, d->hi);
    *v = x;
    return NG_OK;
}

/* the comma-separated numbers of s appended to the list */
static int add_list(const cli_flagdef *d, const char *s, cli_floats *l) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    if (!*s || s[strlen(s) - 1] == ',') return ng_set_error("%s: '%s' is not a list of numbers", d->name, s);
    for (char *save = NULL, *part = strtok_r(buf, ",", &save); part; part = strtok_r(NULL, ",", &save)) {
        double v;
        if (parse_number(d, part, &v)) return NG_ERR;
        if (l->n >= CLI_MAX_LIST) return ng_set_error("%s: at most %d values", d->name, CLI_MAX_LIST);
        l->v[l->n++] = (float)v;
    }
    return NG_OK;
}

static int set_value(const cli_flag *f, const char *s, void *opts) {
    char *p = (char *)opts + f->off;
    double v;
    switch (f->def->type) {
    case CLI_FLAG: *(int *)p = 1; return NG_OK;
    case CLI_STR: *(const char **)p = s; return NG_OK;
    case CLI_INT: if (parse_number(f->def, s, &v)) return NG_ERR; *(int *)p = (int)v; return NG_OK;
    case CLI_FLOAT: if (parse_number(f->def, s, &v)) return NG_ERR; *(float *)p = (float)v; return NG_OK;
    case CLI_FLOATS: return add_list(f->def, s, (cli_floats *)p);
    case CLI_STRS: {
        cli_strs *l = (cli_strs *)p;
        if (l->n >= CLI_MAX_STRS) return ng_set_error("%s: at most %d times", f->def->name, CLI_MAX_STRS);
        l->v[l->n++] = s;
        return NG_OK;
    }
    case CLI_STRLIST: return ng_set_error("%s: a list has no default", f->def->name);
    case CLI_U64: {
        char *end;
        errno = 0;
        unsigned long long x = strtoull(s, &end, 10);
        if (errno || end == s || *end || s[0] == '-') return ng_set_error("%s: '%s' is not a non-negative integer", f->def->name, s);
        *(uint64_t *)p = x;
        return NG_OK;
    }
    }
    return NG_ERR;
}

/* whether s reads as a number (the next value of a list flag: --temperature 0.5 1 2) */
static int is_number(const char *s) {
    char *end;
    strtod(s, &end);
    return end != s && !*end;
}

/* Flags a command renamed so that a flag means one thing in every command: the old name gets a
 * usage error naming the new one. */
static const struct { const char *cmd, *old, *now, *why; } RENAMED[] = {
    {"interpolate", "--steps", "--frames", "--steps means training steps"},
    {"embeddings", "--tokens", "--points", "--tokens means tokens to generate"},
};

int cli_parse(const cli_cmd *c, int argc, char **argv, void *opts, cli_args *a) {
    memset(a, 0, sizeof *a);
    int nf = 0;
    for (const cli_flag *f = c->flags; f->def; f++, nf++)
        if (nf >= (int)sizeof a->given) { fprintf(stderr, "nanogen: internal: %s has more than %zu flags\n", c->name, sizeof a->given); return 2; }
        else if (f->dflt && set_value(f, f->dflt, opts)) { fprintf(stderr, "nanogen: internal: default of %s: %s\n", f->def->name, ng_last_error()); return 2; }
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) { cli_help(c); return 1; }
        if (s[0] != '-' || !s[1]) {
            if (a->npos >= c->max_pos) {
                ng_set_error("unexpected argument '%s' (%s)", s, c->max_pos == 1 ? "one checkpoint directory" : "too many arguments");
                return cli_usage_fail(c->name);
            }
            a->pos[a->npos++] = s;
            continue;
        }
        int k = 0;
        while (k < nf && strcmp(c->flags[k].def->name, s)) k++;
        if (k == nf) {
            const char *names[sizeof a->given + 1];
            for (int j = 0; j < nf; j++) names[j] = c->flags[j].def->name;
            names[nf] = "--help";
            const char *near = cli_did_you_mean(s, names, nf + 1);
            for (size_t r = 0; r < sizeof RENAMED / sizeof *RENAMED; r++)
                if (!strcmp(c->name, RENAMED[r].cmd) && !strcmp(s, RENAMED[r].old)) {
                    ng_set_error("%s %s is now %s (%s)", c->name, s, RENAMED[r].now, RENAMED[r].why);
                    return cli_usage_fail(c->name);
                }
            if (near) ng_set_error("unknown flag '%s' for %s; did you mean '%s'?", s, c->name, near);
            else ng_set_error("unknown flag '%s' for %s", s, c->name);
            return cli_usage_fail(c->name);
        }
        const cli_flag *f = &c->flags[k];
        if (f->def->type == CLI_STRLIST) {   /* --in a.png b.png ...: the arguments up to the next flag */
            if (a->given[k]) { ng_set_error("%s given twice: list every value after one %s", s, s); return cli_usage_fail(c->name); }
            cli_strlist *l = (cli_strlist *)((char *)opts + f->off);
            l->v = argv + i + 1;
            l->n = 0;
            while (i + 1 < argc && (argv[i + 1][0] != '-' || !argv[i + 1][1])) { i++; l->n++; }
            if (!l->n) { ng_set_error("%s needs a value", s); return cli_usage_fail(c->name); }
            a->given[k] = 1;
            continue;
        }
        if (f->def->type == CLI_FLOATS && !a->given[k]) ((cli_floats *)((char *)opts + f->off))->n = 0;   /* given: not the default */
        a->given[k] = 1;
        if (f->def->type == CLI_FLAG) { set_value(f, NULL, opts); continue; }
        if (i + 1 >= argc) { ng_set_error("%s needs a value", s); return cli_usage_fail(c->name); }
        if (set_value(f, argv[++i], opts)) return cli_usage_fail(c->name);
        while (f->def->type == CLI_FLOATS && i + 1 < argc && is_number(argv[i + 1]))   /* --temperature 0.5 1 2 */
            if (set_value(f, argv[++i], opts)) return cli_usage_fail(c->name);
    }
    return 0;
}

int cli_parse_dir(const cli_cmd *c, int argc, char **argv, void *opts, cli_args *a) {
    const int rc = cli_parse(c, argc, argv, opts, a);
    if (rc) return rc == 1 ? 0 : rc;
    return a->npos >= 1 ? -1 : cli_missing_pos(c, a);
}

int cli_given(const cli_cmd *c, const cli_args *a, const char *name) {
    for (int k = 0; c->flags[k].def; k++)
        if (!strcmp(c->flags[k].def->name, name)) return a->given[k] != 0;
    return 0;
}

int cli_missing_pos(const cli_cmd *c, const cli_args *a) {
    if (a->npos >= 1) return 0;
    const char *u = c->usage, *nl = strchr(u, '\n');
    fprintf(stderr, "nanogen: %s: missing DIR; %.*s (nanogen %s --help)\n", c->name, (int)(nl ? nl - u : (long)strlen(u)), u, c->name);
    return 2;
}

unsigned cli_given_bits(const cli_cmd *c, const cli_args *a) {
    unsigned bits = 0;
    for (int k = 0; c->flags[k].def; k++) if (a->given[k]) bits |= c->flags[k].bit;
    return bits;
}
