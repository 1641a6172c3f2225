"""The image worker: runs INSIDE the sandbox, as its PID 1, under the system interpreter.

Started by core/learning/imaging.py, once per call, in the grading sandbox's confinement
(core/learning/sandbox/bubblewrap.py: no network, no project files, everything read-only
but a tiny /tmp). Standard library and Pillow only (Debian's python3-pil: its package
directory is bound read-only into the sandbox and put on sys.path by import_pillow()).
Neither Ferry nor Django is visible here. The host puts these read-only files in /box:

    /box/image_worker.py   this file
    /box/request.json      what to do (imaging.worker_request(); trusted: the host wrote it)
    /box/image             the uploaded bytes (untrusted)

Before it reads the image the worker lowers its own rlimits (memory, CPU, no new process,
no file written): it is the only process of the sandbox, so a hostile file meets the
limits whatever it makes Pillow do. Pixels are checked three times before anything is
decoded: from the file's header by this module's own parser (WebP's decoder allocates its
whole canvas when the file is opened), by Pillow's MAX_IMAGE_PIXELS at open, and from the
size Pillow parsed, before load().

Modes:

    clean      validate, apply the EXIF orientation, re-encode without metadata (EXIF and
               GPS, XMP, comments, text chunks; the ICC profile is kept, for colour). PNG,
               JPEG and WebP stay in their format; a GIF (or any animation) keeps its first
               frame, a GIF as PNG.
    variants   for each requested width smaller than the image, a WebP and a JPEG (on white
               where the image has alpha), aspect ratio kept, never upscaled.

Protocol to the host on stdout:

    {"event": "ready"}\\n                   confined, Pillow imported; the image not yet read
    {"status": "ok", "images": [{"format", "width", "height", "length"}, ...]}\\n
                                           then the images' bytes, concatenated in that order
    {"status": "refused", "reason": ..., facts}\\n   the file is not acceptable (see refuse())

Anything else (nothing after "ready", a cut line) means the process was killed: a limit.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import resource
import struct
import sys
from typing import Any

REQUEST_FILE = "/box/request.json"
IMAGE_FILE = "/box/image"
MB = 1024 * 1024
NOFILE = 16  # stdio and the image file; nothing else is ever opened
PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "gif": "GIF", "webp": "WEBP"}
CLEAN_FORMATS = {"png": "png", "jpeg": "jpeg", "gif": "png", "webp": "webp"}
# Modes Pillow writes to PNG as they are; any other becomes RGB(A) first.
PNG_MODES = ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA")
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
SIXTEEN_BIT_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")
CLEAN_JPEG_QUALITY = 90  # a second generation of JPEG loss: keep it small
CLEAN_WEBP_QUALITY = 90
VARIANT_JPEG_QUALITY = 80  # variants are for slow connections
VARIANT_WEBP_QUALITY = 75
ORIENTATION = 0x0112
SWAPPING_ORIENTATIONS = (5, 6, 7, 8)  # transpose or rotate by 90°: width and height swap
# JPEG start-of-frame markers (they carry the size): C0-CF but DHT (C4), JPG (C8), DAC (CC).
JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
JPEG_STANDALONE = frozenset(range(0xD0, 0xDA)) | {0x01}  # markers without a length field

# PIL.Image, imported by import_pillow() once Pillow's directory is on sys.path.
Image: Any = None


class Refusal(Exception):
    """The file is not an acceptable image; `facts` go to the host as they are (JSON)."""

    def __init__(self, reason: str, **facts: int | str) -> None:
        super().__init__(reason)
        self.facts: dict[str, int | str] = {"reason": reason, **facts}


Encoded = tuple[dict[str, Any], bytes]


# --- talking to the host ---------------------------------------------------------------------


def write_all(data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(1, view):]


def emit(record: dict[str, Any]) -> None:
    write_all((json.dumps(record) + "\n").encode())


def emit_images(images: list[Encoded]) -> None:
    """The header line, then every image's bytes: the host splits them by `length`."""
    emit({"status": "ok", "images": [{**facts, "length": len(data)} for facts, data in images]})
    for _, data in images:
        write_all(data)


# --- confinement -----------------------------------------------------------------------------


def import_pillow(path: str) -> None:
    """Import Pillow from `path` (the directory holding the PIL package, bound read-only)."""
    global Image
    sys.path.append(path)
    Image = importlib.import_module("PIL.Image")


def confine(memory_mb: int, cpu_s: int) -> None:
    """Soft and hard limits alike, so nothing the file triggers can raise them again.

    Set after Pillow is imported (its libraries are mapped already; RLIMIT_AS counts them)
    and before the image is read. RLIMIT_NPROC 1: this process is the only one of its uid
    in the sandbox's user namespace, so no fork and no thread can start. RLIMIT_FSIZE 0:
    nothing is written to a file (stdout is a pipe, which the limit does not cover).
    """
    for rlimit, soft, hard in (
        (resource.RLIMIT_AS, memory_mb * MB, memory_mb * MB),
        (resource.RLIMIT_CPU, cpu_s, cpu_s + 1),  # SIGXCPU, then SIGKILL a second later
        (resource.RLIMIT_NPROC, 1, 1),
        (resource.RLIMIT_FSIZE, 0, 0),
        (resource.RLIMIT_NOFILE, NOFILE, NOFILE),
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_MEMLOCK, 0, 0),
        (resource.RLIMIT_MSGQUEUE, 0, 0),
    ):
        resource.setrlimit(rlimit, (soft, hard))


# --- sizes from headers, before Pillow parses anything ----------------------------------------


def header_size(fmt: str, data: bytes) -> tuple[int, int] | None:
    """(width, height) as the file's header declares it, or None where it cannot be read
    (Pillow then decides whether the file is an image at all)."""
    try:
        if fmt == "png":
            return struct.unpack(">II", data[16:24]) if data[12:16] == b"IHDR" else None
        if fmt == "gif":
            return struct.unpack("<HH", data[6:10])
        if fmt == "webp":
            return webp_size(data)
        return jpeg_size(data)
    except struct.error:
        return None


def webp_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """The RIFF chunks of a WebP file, (fourcc, payload), as far as they are complete."""
    chunks, offset = [], 12
    while offset + 8 <= len(data):
        fourcc, length = data[offset:offset + 4], struct.unpack("<I", data[offset + 4:offset + 8])[0]
        chunks.append((fourcc, data[offset + 8:offset + 8 + length]))
        offset += 8 + length + (length & 1)  # chunks are padded to an even length
    return chunks


def webp_size(data: bytes) -> tuple[int, int] | None:
    """The canvas (VP8X) or the single frame's size (VP8 lossy, VP8L lossless)."""
    chunks = webp_chunks(data)
    if not chunks:
        return None
    fourcc, payload = chunks[0]
    if fourcc == b"VP8X":
        width, height = payload[4:7] + b"\0", payload[7:10] + b"\0"
        return struct.unpack("<I", width)[0] + 1, struct.unpack("<I", height)[0] + 1
    if fourcc == b"VP8 ":
        width, height = struct.unpack("<HH", payload[6:10])
        return width & 0x3FFF, height & 0x3FFF
    if fourcc == b"VP8L":
        bits = struct.unpack("<I", payload[1:5])[0]
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """The size in the first start-of-frame segment, walking the segments before it."""
    offset = 2
    while offset + 4 <= len(data) and data[offset] == 0xFF:
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
        elif marker in JPEG_STANDALONE:
            offset += 2
        elif marker in JPEG_SOF:
            height, width = struct.unpack(">HH", data[offset + 5:offset + 9])
            return width, height
        else:
            offset += 2 + struct.unpack(">H", data[offset + 2:offset + 4])[0]
    return None


def check_pixels(size: tuple[int, int] | None, max_pixels: int) -> None:
    if size is not None and size[0] * size[1] > max_pixels:
        raise Refusal("pixels", width=size[0], height=size[1])


# --- decoding ----------------------------------------------------------------------------------


def open_image(data: bytes, fmt: str, max_pixels: int) -> Any:
    """The image, opened by `fmt`'s plugin only (never another parser) and not yet decoded.

    Refuses (pixels) an image larger than max_pixels, before any pixel is decoded.
    """
    check_pixels(header_size(fmt, data), max_pixels)
    Image.MAX_IMAGE_PIXELS = max_pixels  # Pillow warns above it and refuses above twice it
    try:
        image = Image.open(io.BytesIO(data), formats=[PIL_FORMATS[fmt]])
    except Image.DecompressionBombError:
        # Only when Pillow found a larger size than the header said (a GIF frame outside
        # its screen): the header's size is no use in the message then.
        raise Refusal("pixels") from None
    check_pixels(image.size, max_pixels)
    return image


def turning(image: Any) -> Any:
    """The transposition that makes `image` upright, as its EXIF orientation says, or None.

    ImageOps.exif_transpose() does the same but always returns a copy: a full-size image
    more, which the memory limit would have to allow for.
    """
    return {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }.get(image.getexif().get(ORIENTATION))


def upright(image: Any) -> Any:
    """The decoded image turned upright; when that takes a copy, the original's pixels are
    released at once (close()), so at most two full-size images ever exist."""
    method = turning(image)
    image.load()
    if method is None:
        return image
    turned = image.transpose(method)
    image.close()
    return turned


def oriented_size(image: Any) -> tuple[int, int]:
    """The size the image will have once upright, known before it is decoded."""
    width, height = image.size
    return (height, width) if swaps(image) else (width, height)


def swaps(image: Any) -> bool:
    return image.getexif().get(ORIENTATION) in SWAPPING_ORIENTATIONS


def stripped(image: Any) -> Any:
    """`image` with no metadata left for an encoder to copy.

    Pillow's encoders copy some of im.info on their own (PNG: the ICC profile; JPEG: the
    comment; newer Pillows more), so the dict keeps only transparency, which is pixel data
    of P, L and RGB images, not metadata.
    """
    image.info = {key: value for key, value in image.info.items() if key == "transparency"}
    return image


def has_alpha(image: Any) -> bool:
    return image.mode in ALPHA_MODES or "transparency" in image.info


def encode(image: Any, fmt: str, **options: Any) -> Encoded:
    """`image` encoded as `fmt`. The pixels are decoded by now, so an encoder that fails
    ran out of memory (libwebp's lossless encoder needs the most): a limit, not corruption."""
    buffer = io.BytesIO()
    try:
        image.save(buffer, PIL_FORMATS[fmt], **options)
    except (OSError, ValueError, MemoryError) as exc:
        raise Refusal("limits", detail=f"encoding {fmt}: {type(exc).__name__}: {exc}"[:300]) from None
    return {"format": fmt, "width": image.width, "height": image.height}, buffer.getvalue()


# --- clean -------------------------------------------------------------------------------------


def clean(image: Any, fmt: str, data: bytes) -> Encoded:
    """The upright first frame, re-encoded in its output format with no metadata but ICC."""
    icc_profile = image.info.get("icc_profile")
    picture = stripped(clean_mode(upright(image), CLEAN_FORMATS[fmt]))
    if CLEAN_FORMATS[fmt] == "png":
        return encode(picture, "png", icc_profile=icc_profile)
    if fmt == "jpeg":
        return encode(picture, "jpeg", quality=CLEAN_JPEG_QUALITY, icc_profile=icc_profile)
    return encode(picture, "webp", lossless=webp_is_lossless(data), quality=CLEAN_WEBP_QUALITY,
                  icc_profile=icc_profile, exif=b"")


def clean_mode(image: Any, output: str) -> Any:
    """`image` in a mode its output format stores and browsers show."""
    if output == "png":
        if image.mode in PNG_MODES:
            return image
        return image.convert("RGBA" if has_alpha(image) else "RGB")
    if output == "jpeg" and image.mode not in ("L", "RGB"):
        return image.convert("RGB")  # CMYK JPEGs: browsers show them wrongly, when at all
    return image


def webp_is_lossless(data: bytes) -> bool:
    """Whether the WebP's (first) frame is lossless: re-encoding it lossy would blur it."""
    return any(fourcc == b"VP8L" for fourcc, _ in webp_chunks(data))


# --- variants ----------------------------------------------------------------------------------


def variants(image: Any, fmt: str, widths: list[int]) -> list[Encoded]:
    """A WebP and a JPEG at each width smaller than the image's, smallest width first.

    Each variant is resized from the image as stored and turned upright afterwards, so the
    full-size pixels are never copied to be turned.
    """
    width, height = oriented_size(image)
    targets = sorted({w for w in widths if 0 < w < width})
    if not targets:
        return []
    stored = [(h, w) if swaps(image) else (w, h) for w, h in ((w, max(1, round(height * w / width))) for w in targets)]
    method = turning(image)
    if fmt == "jpeg":
        # libjpeg decodes at 1/2, 1/4 or 1/8 scale, still at least the largest variant: a
        # 6000x4000 photo's 960 px variants then never hold its full-size pixels.
        image.draft(None, stored[-1])
    picture = display_mode(image)
    encoded: list[Encoded] = []
    for size in stored:
        small = picture.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        small = stripped(small if method is None else small.transpose(method))
        encoded.append(encode(small, "webp", quality=VARIANT_WEBP_QUALITY))
        encoded.append(encode(on_white(small), "jpeg", quality=VARIANT_JPEG_QUALITY, optimize=True,
                              progressive=True))
    return encoded


def display_mode(image: Any) -> Any:
    """8-bit RGB, or RGBA where the image has alpha (16-bit grey scaled down, not clipped)."""
    if image.mode in SIXTEEN_BIT_MODES:
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    if has_alpha(image):
        return image if image.mode == "RGBA" else image.convert("RGBA")
    return image if image.mode == "RGB" else image.convert("RGB")


def on_white(image: Any) -> Any:
    """An RGB image: `image` itself, or flattened onto white if it has alpha (JPEG has none)."""
    if image.mode != "RGBA":
        return image
    background = Image.new("RGB", image.size, (255, 255, 255))
    background.paste(image, mask=image.getchannel("A"))
    return background


# --- entry point -------------------------------------------------------------------------------


def produce(request: dict[str, Any], data: bytes) -> list[Encoded]:
    """What the request asks for; raises Refusal for a file that is not an acceptable image."""
    fmt = request["format"]
    try:
        image = open_image(data, fmt, request["max_pixels"])
        with image:
            if request["mode"] == "clean":
                images = [clean(image, fmt, data)]
            else:
                images = variants(image, fmt, request["widths"])
    except (Refusal, MemoryError):
        raise
    except Exception as exc:  # whatever a malformed file makes a decoder raise
        raise Refusal("corrupt", detail=f"{type(exc).__name__}: {exc}"[:300]) from None
    total = sum(len(encoded) for _, encoded in images)
    if total > request["max_output_bytes"]:
        raise Refusal("output", length=total)
    return images


def main() -> int:
    with open(REQUEST_FILE, encoding="utf-8") as f:
        request = json.load(f)
    import_pillow(request["pillow_path"])
    confine(request["memory_mb"], request["cpu_s"])
    emit({"event": "ready"})
    with open(IMAGE_FILE, "rb") as f:
        data = f.read()
    try:
        images = produce(request, data)
    except Refusal as refusal:
        emit({"status": "refused", **refusal.facts})
        return 0
    except MemoryError:
        # Decoded pixels are freed by now (the frames that held them are gone), so there is
        # room to say so; if not, the host reads the silence as the same thing.
        emit({"status": "refused", "reason": "limits"})
        return 0
    emit_images(images)
    return 0


if __name__ == "__main__":
    sys.exit(main())
