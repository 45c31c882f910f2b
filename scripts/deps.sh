#!/bin/sh
# scripts/deps.sh [test] - make sure the Debian packages nanogen needs are installed; install the
# missing ones with apt-get when we are root (or have sudo), else say exactly what to run.
#   build: gcc, make, OpenBLAS (OpenMP build), cJSON, stb (images), zlib (.gz), libmicrohttpd (nanogen serve);
#   data: dataset-fashion-mnist;  demo: curl (to fetch Tiny Shakespeare)
#   test:  python3-torch, python3-numpy (the PyTorch reference the tests compare against),
#          valgrind (memcheck of a short training), librsvg2-bin (renders a plot's SVG),
#          openmpi-bin + libopenmpi-dev (the MPI build's tests), libmicrohttpd-dev (nanogen serve),
#          chromium-headless-shell (the playground's browser test)
#   fuzz:  clang with libFuzzer and the sanitizers, LLVM's OpenMP (make fuzz)
arch=$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)
missing=""
need() { # package, file that proves it is installed
    [ -e "$2" ] || missing="$missing $1"
}
command -v gcc >/dev/null 2>&1 || missing="$missing gcc"
command -v make >/dev/null 2>&1 || missing="$missing make"
need libopenblas-openmp-dev "/usr/lib/$arch/openblas-openmp/libopenblas.so"
need libcjson-dev /usr/include/cjson/cJSON.h
need libstb-dev /usr/include/stb/stb_image.h
need zlib1g-dev /usr/include/zlib.h
need libmicrohttpd-dev /usr/include/microhttpd.h
need dataset-fashion-mnist /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
command -v curl >/dev/null 2>&1 || missing="$missing curl"
if [ "$1" = test ]; then
    /usr/bin/python3 -c "import numpy" 2>/dev/null || missing="$missing python3-numpy"
    /usr/bin/python3 -c "import torch" 2>/dev/null || missing="$missing python3-torch"
    command -v valgrind >/dev/null 2>&1 || missing="$missing valgrind"            # tests/test_valgrind.sh
    command -v rsvg-convert >/dev/null 2>&1 || missing="$missing librsvg2-bin"    # tests/test_plot.sh renders an SVG
    command -v mpicc >/dev/null 2>&1 || missing="$missing openmpi-bin libopenmpi-dev"   # tests/test_mpi.sh (make MPI=1)
    need libmicrohttpd-dev /usr/include/microhttpd.h                              # nanogen serve (tests/test_serve.sh)
    command -v chromium-headless-shell >/dev/null 2>&1 || command -v chromium >/dev/null 2>&1 || missing="$missing chromium-headless-shell"   # tests/test_playground.sh
fi
if [ "$1" = fuzz ]; then
    t=$(mktemp -d)
    printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' > "$t/f.c"
    clang -fsanitize=fuzzer,address,undefined -fopenmp "$t/f.c" -o "$t/f" >/dev/null 2>&1 || missing="$missing clang libclang-rt-dev libomp-dev"
    rm -rf "$t"
fi
[ -z "$missing" ] && exit 0
echo "nanogen: installing missing Debian packages:$missing"
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "nanogen: not root and no sudo: please run  apt-get install$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y -q $missing >/dev/null 2>&1; then
    $SUDO apt-get update -q >/dev/null 2>&1
    if ! $SUDO apt-get install -y -q $missing; then
        echo "nanogen: could not install:$missing (no package mirror reachable?). Install them and run make again." >&2
        exit 1
    fi
fi
