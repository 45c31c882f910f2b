"""tests/pngwrite.py - an 8-bit PNG written with python3's standard library only, for the shell
tests that make picture folders (test_images_train.sh, test_gan_sizes.sh, test_playground.sh):
png(path, w, h, rows, rgb=False), rows: h lists of w grey bytes (rgb: 3 w bytes, R G B)."""
import struct
import zlib


def png(path, w, h, rows, rgb=False):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    raw = b"".join(b"\0" + bytes(r) for r in rows)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2 if rgb else 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
