"""The bytes the simulated CDN serves: a small PNG and a tiny MP4. Pure, made once."""

from __future__ import annotations

import functools
import struct
import zlib

__all__ = ["mp4", "png"]


@functools.cache
def png() -> bytes:
    """A small valid PNG (a 2x2 grid of colours, 64x64)."""
    size = 64
    colours = ((220, 90, 60), (60, 160, 220), (90, 200, 110), (240, 200, 70))
    rows = bytearray()
    for y in range(size):
        rows.append(0)  # filter type None
        for x in range(size):
            rows.extend(colours[(y >= size // 2) * 2 + (x >= size // 2)])

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + tag
            + data
            + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


@functools.cache
def mp4() -> bytes:
    """The first box of an MP4 file (``ftyp``): enough for a client to tell it is a video."""
    brands = b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41"
    return struct.pack(">I", 8 + len(brands)) + b"ftyp" + brands
