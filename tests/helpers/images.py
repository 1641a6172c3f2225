"""Test images, made and inspected with the system interpreter's Pillow (Debian's python3-pil,
the one the image worker runs with) in a subprocess: Ferry's virtualenv has no Pillow, and
these files are the tests' own, so they need no sandbox. The bomb is built by hand."""

from __future__ import annotations

import json
import struct
import subprocess
import zlib
from typing import Any

SYSTEM_PYTHON = "/usr/bin/python3"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RED, GREEN, BLUE, WHITE = (220, 20, 20), (20, 200, 20), (20, 20, 220), (255, 255, 255)
XMP_MARKER = b"http://ns.adobe.com/xap/1.0/\x00"
XMP_PACKET = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/>Lena Learner</x:xmpmeta>'

PRELUDE = """
import io, json, sys
from PIL import Image, PngImagePlugin
args = json.load(sys.stdin)
out = io.BytesIO()

def exif(orientation=None):
    tags = Image.Exif()
    tags[0x010F] = "Harbor Phone"  # Make
    if orientation:
        tags[0x0112] = orientation
    tags[0x8825] = {1: "N", 2: (52.0, 22.0, 31.0), 3: "E", 4: (4.0, 53.0, 12.0)}  # GPS: where it was taken
    return tags.tobytes()

def halves(width, height, mode="RGB"):
    image = Image.new(mode, (width, height), tuple(args.get("right", (20, 20, 220))))
    image.paste(tuple(args.get("left", (220, 20, 20))), (0, 0, width // 2, height))
    return image
"""


def system_pillow(program: str, **args: Any) -> bytes:
    """Run `program` (after PRELUDE: Image, `args`, an `out` buffer) and return what it wrote to `out`."""
    source = PRELUDE + program + "\nsys.stdout.buffer.write(out.getvalue())\n"
    done = subprocess.run([SYSTEM_PYTHON, "-I", "-c", source], input=json.dumps(args).encode(),
                          capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def picture(fmt: str, width: int, height: int, *, mode: str = "RGB", **options: Any) -> bytes:
    """A `fmt` image, red on the left half and blue on the right (in `mode`)."""
    return system_pillow("halves(args['width'], args['height'], args['mode'])"
                         ".save(out, args['fmt'], **args['options'])",
                         fmt=fmt, width=width, height=height, mode=mode, options=options)


def photo_with_metadata(width: int, height: int, orientation: int) -> bytes:
    """A JPEG as phones write them: EXIF (make, orientation, GPS), an XMP packet, a comment."""
    jpeg = system_pillow("halves(args['width'], args['height']).save(out, 'JPEG', exif=exif(args['orientation']), "
                         "comment=b'taken at Lena Learner home')", width=width, height=height, orientation=orientation)
    xmp = XMP_MARKER + XMP_PACKET
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(xmp) + 2) + xmp + jpeg[2:]


def png_with_metadata(width: int, height: int) -> bytes:
    """A PNG with a text chunk, an XMP iTXt chunk and an eXIf chunk with GPS."""
    return system_pillow(
        "info = PngImagePlugin.PngInfo()\n"
        "info.add_text('Author', 'Lena Learner')\n"
        "info.add_itxt('XML:com.adobe.xmp', args['xmp'])\n"
        "halves(args['width'], args['height']).save(out, 'PNG', pnginfo=info, exif=exif())",
        width=width, height=height, xmp=XMP_PACKET.decode())


def webp_with_metadata(width: int, height: int, *, lossless: bool) -> bytes:
    return system_pillow("halves(args['width'], args['height']).save(out, 'WEBP', exif=exif(), "
                         "lossless=args['lossless'], xmp=args['xmp'])",
                         width=width, height=height, lossless=lossless, xmp=XMP_PACKET.decode())


def animated_gif(colors: list[tuple[int, int, int]], size: tuple[int, int] = (64, 48)) -> bytes:
    return system_pillow(
        "frames = [Image.new('RGB', tuple(args['size']), tuple(c)).convert('P') for c in args['colors']]\n"
        "frames[0].save(out, 'GIF', save_all=True, append_images=frames[1:], duration=100, loop=0)",
        colors=colors, size=size)


def transparent_png(width: int, height: int) -> bytes:
    """An RGBA PNG: fully transparent on the left half, opaque blue on the right."""
    return system_pillow("halves(args['width'], args['height'], 'RGBA').save(out, 'PNG')",
                         width=width, height=height, left=(0, 0, 0, 0), right=(*BLUE, 255))


def grey_16_bit_png(width: int, height: int, level: int) -> bytes:
    return system_pillow("Image.new('I;16', (args['width'], args['height']), args['level']).save(out, 'PNG')",
                         width=width, height=height, level=level)


def noisy_jpeg(width: int, height: int) -> bytes:
    """A JPEG whose entropy-coded data fills most of the file (so cutting it loses pixels)."""
    return system_pillow("Image.effect_noise((args['width'], args['height']), 60).convert('RGB')"
                         ".save(out, 'JPEG', quality=90)", width=width, height=height)


def noisy_png(width: int, height: int) -> bytes:
    """A PNG of noise, which no compressor shrinks much."""
    return system_pillow("Image.effect_noise((args['width'], args['height']), 60).convert('RGB').save(out, 'PNG')",
                         width=width, height=height)


def describe(data: bytes, points: tuple[tuple[int, int], ...] = ()) -> dict[str, Any]:
    """What Pillow reads in `data`: format, size, mode, frames, EXIF tags and GPS, info keys,
    and the RGB(A) colour at each of `points`."""
    program = (
        "image = Image.open(io.BytesIO(sys.stdin.buffer.read()))\n"
        "facts = {'format': image.format, 'size': list(image.size), 'mode': image.mode,\n"
        "         'frames': getattr(image, 'n_frames', 1), 'exif': sorted(image.getexif()),\n"
        "         'gps': dict(image.getexif().get_ifd(0x8825)), 'info': sorted(image.info)}\n"
        "rgb = image.convert('RGBA' if 'A' in image.mode else 'RGB')\n"
        "facts['colors'] = [list(rgb.getpixel(tuple(p))) for p in json.loads(sys.argv[1])]\n"
        "sys.stdout.write(json.dumps(facts, default=str))\n"
    )
    source = PRELUDE.replace("args = json.load(sys.stdin)\n", "") + program
    done = subprocess.run([SYSTEM_PYTHON, "-I", "-c", source, json.dumps(points)], input=data,
                          capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()
    facts: dict[str, Any] = json.loads(done.stdout)
    return facts


def png_bomb(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height 8-bit grey pixels, with a few rows of zeros:
    a few hundred bytes that would decode to width * height bytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * (width + 1) * 4, 9)
    return PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def close_to(color: list[int], expected: tuple[int, ...], tolerance: int = 40) -> bool:
    """Lossy formats shift colours a little; a wrong half or a wrong background does not."""
    return len(color) >= len(expected) and all(abs(a - b) <= tolerance for a, b in zip(color, expected, strict=False))
