/* classifier.c - a small CNN image classifier (the feature extractor of the GAN's FID):
 *   conv1 Conv(c->32, k3, p1) -> ReLU -> MaxPool 2 -> conv2 Conv(32->64, k3, p1) -> ReLU ->
 *   MaxPool 2 -> flatten -> fc1 (64*h/4*w/4 -> hidden) -> ReLU (the features) -> fc2 (hidden -> classes)
 * Parameters named and initialised as the PyTorch module would be (nn defaults). */
#include "models/model_internal.h"

#include <stdio.h>
#include <string.h>

static int classifier_check(const ng_model_config *c) {
    if (c->hidden < 1 || c->hidden > 65536) return ng_set_error("--hidden %d out of range [1, 65536]", c->hidden);
    if (c->arch == NG_ARCH_CONV) return ng_set_error("--arch conv is for ae, dae and vae (classifier has its own architecture)");
    if (c->h % 4 || c->w % 4) return ng_set_error("the classifier needs an image size divisible by 4 (got %dx%d)", c->h, c->w);
    if (c->n_classes < 2 || c->n_classes > 65536)
        return ng_set_error("classifier: %d classes, need 2 to 65536 (a labelled data set)", c->n_classes);
    return NG_OK;
}

static int classifier_declare(ng_model *m) {
    const ng_model_config *c = &m->cfg;
    ng_params *P = m->P[0];
    const int64_t F = 64 * (int64_t)(c->h / 4) * (c->w / 4);
    m->w.clf.c1_w = ng__decl(P, "conv1.weight", 4, 32, c->c, 3, 3);
    m->w.clf.c1_b = ng__decl(P, "conv1.bias", 1, 32, 0, 0, 0);
    m->w.clf.c2_w = ng__decl(P, "conv2.weight", 4, 64, 32, 3, 3);
    m->w.clf.c2_b = ng__decl(P, "conv2.bias", 1, 64, 0, 0, 0);
    m->w.clf.fc1_w = ng__decl(P, "fc1.weight", 2, c->hidden, F, 0, 0);
    m->w.clf.fc1_b = ng__decl(P, "fc1.bias", 1, c->hidden, 0, 0, 0);
    m->w.clf.fc2_w = ng__decl(P, "fc2.weight", 2, c->n_classes, c->hidden, 0, 0);
    m->w.clf.fc2_b = ng__decl(P, "fc2.bias", 1, c->n_classes, 0, 0, 0);
    return m->w.clf.c1_w && m->w.clf.c1_b && m->w.clf.c2_w && m->w.clf.c2_b && m->w.clf.fc1_w && m->w.clf.fc1_b && m->w.clf.fc2_w && m->w.clf.fc2_b
               ? NG_OK : NG_ERR;
}

int ng_classifier_build(ng_model *m, ng_graph *g, int B, ng_classifier_graph *o) {
    const ng_model_config *c = &m->cfg;
    memset(o, 0, sizeof *o);
    if (c->kind != NG_MODEL_CLASSIFIER) return ng_set_error("a %s is not a classifier", ng_model_kind_name(c->kind));
    if (B < 1) return ng_set_error("classifier graph: batch size %d < 1", B);
    int64_t xe[4] = {B, c->c, c->h, c->w}, le[1] = {B}, fe[2] = {B, 64 * (int64_t)(c->h / 4) * (c->w / 4)};
    o->x = ng_input(g, "x", 4, xe);
    o->labels = ng_input_i32(g, "labels", 1, le);
    if (!o->x || !o->labels) return NG_ERR;
    ng_tensor *h = ng_maxpool2d(g, ng_relu(g, ng_conv2d(g, o->x, m->w.clf.c1_w, m->w.clf.c1_b, 1, 1)), 2, 2);   /* (B,32,h/2,w/2) */
    h = ng_maxpool2d(g, ng_relu(g, ng_conv2d(g, h, m->w.clf.c2_w, m->w.clf.c2_b, 1, 1)), 2, 2);                /* (B,64,h/4,w/4) */
    if (!h) return NG_ERR;
    o->features = ng_relu(g, ng_linear(g, ng_reshape(g, h, 2, fe), m->w.clf.fc1_w, m->w.clf.fc1_b));          /* (B,hidden) */
    o->logits = ng_linear(g, o->features, m->w.clf.fc2_w, m->w.clf.fc2_b);                                    /* (B,classes) */
    o->loss = ng_softmax_xent(g, o->logits, o->labels);
    if (!o->loss) return NG_ERR;
    return ng_graph_finalize(g, o->loss);
}

static int classifier_describe(const ng_model_config *c, char *buf, size_t cap) {
    int k = ng__image_describe(c, buf, cap, 1, 0);
    return k >= 0 && (size_t)k < cap ? k + snprintf(buf + k, cap - k, ", %d classes", c->n_classes) : k;
}

const ng_kind_def ng_kind_classifier = {"classifier", NG_OBJ_CLASSIFY, 1, classifier_check, classifier_declare, ng__init_block0,
                                        classifier_describe, NULL};
