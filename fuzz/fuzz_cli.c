/* fuzz_cli.c - the command-line parser: the input split on NUL bytes is argv after "nanogen"
 * (at most 64 arguments), run through cli_main with cli_parse_only set, so every command parses
 * and checks its flags and returns before it loads, writes or trains anything. The parser must
 * never crash, read past argv, or exit; it returns 0 (parsed), 1 or 2 (refused, with a message). */
#include "fuzz.h"
#include "cli/cli.h"

#define MAX_ARGS 64

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    cli_parse_only = 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cli_parse_only = 1;   /* the replay driver may not call LLVMFuzzerInitialize first */
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    /* argv: exact-size copies, so that reading past an argument is caught */
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = "nanogen";
    for (size_t i = 0; i <= size && argc < MAX_ARGS + 1;) {
        size_t len = strlen(buf + i);
        argv[argc] = malloc(len + 1);
        memcpy(argv[argc], buf + i, len + 1);
        argc++;
        i += len + 1;
    }
    argv[argc] = NULL;
    free(buf);
    ng_set_error("%s", "");
    int rc = cli_main(argc, argv);
    FZ_CHECK(rc == 0 || rc == 1 || rc == 2, "exit code %d", rc);
    for (int i = 1; i < argc; i++) free(argv[i]);
    return 0;
}
