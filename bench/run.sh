#!/bin/sh
# make bench: nanogen vs the PyTorch reference, side by side (needs python3-torch).
cd "$(dirname "$0")/.." || exit 1
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
    echo "make bench needs Debian's python3-torch (apt-get install python3-torch python3-numpy)" >&2
    exit 1
fi
exec /usr/bin/python3 bench/bench.py "$@"
