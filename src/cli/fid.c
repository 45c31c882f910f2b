/* fid.c - prints a GAN's quality through a classifier (`nanogen eval GAN_DIR --classifier
 * CLF_DIR [--n N]`); the numbers are the library's (ng_gan_quality, src/eval/quality.c). */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

int cli_gan_quality(const char *gan_dir, const char *clf_dir, int n, uint64_t seed) {
    ng_gan_quality_report r;
    if (ng_gan_quality(gan_dir, clf_dir, n, seed, &r)) return cli_fail();
    const int H = r.features, K = r.n_classes, *hist = r.hist;
    const double fid = r.fid, fid_tr = r.fid_train, fid0 = r.fid_untrained, floor_ = r.fid_floor;
    const int fashion = K == 10 && strstr(r.data, "fashion") != NULL;
    const char *const *names = fashion ? ng_dataset_class_names(r.data, K) : NULL;
    printf("classifier FID (%d-d penultimate features of %s, n = %d, seed %" PRIu64 "; lower is better):\n", H, clf_dir, n, seed);
    printf("  GAN samples vs real test          %10.3f   (%s)\n", fid, gan_dir);
    printf("  GAN samples vs real train         %10.3f\n", fid_tr);
    printf("  untrained generator vs real test  %10.3f   (same architecture, fresh init, seed %" PRIu64 ")\n", fid0, r.untrained_seed);
    printf("  real train vs real test (floor)   %10.3f   (%d images of each)\n", floor_, n);
    printf("classifier accuracy on these %d real test images: %.2f%%\n", n, 100.0 * r.n_correct / n);
    printf("classes of the %d GAN samples as the classifier sees them (beside: how it classifies %d real test images):\n", n, n);
    int missing = 0, rare = 0;
    for (int k = 0; k < K; k++) {
        char nm[32];
        if (fashion) snprintf(nm, sizeof nm, "%s", names[k]); else snprintf(nm, sizeof nm, "class %d", k);
        const char *note = hist[k] == 0 ? "  <- missing" : hist[k] * 4 < hist[K + k] ? "  <- rare" : "";
        printf("  %d %-12s %6d  %5.1f%%   real %6d%s\n", k, nm, hist[k], 100.0 * hist[k] / n, hist[K + k], note);
        missing += hist[k] == 0;
        rare += hist[k] > 0 && hist[k] * 4 < hist[K + k];
    }
    if (!missing) printf("missing classes: none");
    else {
        printf("missing classes (%d):", missing);
        for (int k = 0, first = 1; k < K; k++)
            if (!hist[k]) {
                if (fashion) printf("%s %s", first ? "" : ",", names[k]); else printf("%s %d", first ? "" : ",", k);
                first = 0;
            }
    }
    printf("%s\n", rare ? " (and some rare: fewer than a quarter of their real share)" : "");
    printf("(%.1f s)\n", r.seconds);
    ng_gan_quality_free(&r);
    return 0;
}
