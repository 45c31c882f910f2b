/* stb_image_impl.c - the fuzz build only: stb_image compiled from Debian's header with the
 * fuzzer's coverage and the sanitizers, so that fuzz_image explores the decoders themselves
 * (its definitions take the place of libstb.so's at link time). The normal build uses libstb. */
#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>
