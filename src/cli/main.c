/* main.c - the nanogen command: one binary, one subcommand per job. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Run with OpenBLAS's fastest kernels for this CPU: when it picked its AVX2 kernels on an
 * AVX-512 machine (ng_blas_better_core), set OPENBLAS_CORETYPE and start again, once (the
 * variable is then set). NANOGEN_NO_REEXEC=1 keeps what OpenBLAS chose. If the exec fails we
 * simply go on with the kernels we have. */
static void pick_blas_core(char **argv) {
    const char *core = ng_blas_better_core(), *no = getenv("NANOGEN_NO_REEXEC");
    if (!core || (no && *no && strcmp(no, "0"))) return;
    if (setenv("OPENBLAS_CORETYPE", core, 1) != 0) return;
    execv("/proc/self/exe", argv);
    unsetenv("OPENBLAS_CORETYPE");
}

int main(int argc, char **argv) {
    pick_blas_core(argv);
    if (ng_dist_init(&argc, &argv)) {
        fprintf(stderr, "nanogen: %s\n", ng_last_error());
        return 1;
    }
    return cli_main(argc, argv);
}
