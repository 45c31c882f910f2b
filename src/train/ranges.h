/* ranges.h - the ranges of the training settings, written once: a flag of `nanogen train`
 * (src/cli/train.c, train_images.c) and a setting restored from a checkpoint's training state
 * (src/train/text.c, images.c) are checked against the same numbers. Private to nanogen. */
#ifndef NG_TRAIN_RANGES_H
#define NG_TRAIN_RANGES_H
#define R_STEPS 0, 1 << 30
#define R_BATCH 1, 1 << 20
#define R_LR 0, 10
#define R_WARMUP 0, 1 << 30
#define R_WD 0, 10
#define R_CLIP 0, 1e9
#define R_EVAL_EVERY 0, 1 << 30
#define R_EVAL_ITERS 1, 1 << 20
#define R_LOG_EVERY 1, 1 << 30
#define R_EPOCHS 0, 100000
#define R_BETA1 0, 0.9999
#define R_BETA2 0, 0.99999
#define R_SIZE 4, 1024
#define R_MAX_BATCHES 0, 1 << 30
#define R_SHARDS 0, 1 << 16
#endif
