"""Decoding uploaded images, confined: cleaning an upload and making its smaller variants.

Untrusted image files are never parsed in a web or worker process: image decoders are
where memory-safety bugs live, and a decompression bomb takes a worker's memory with it.
Each call starts a fresh sandbox with the grading sandbox's confinement
(core/learning/sandbox, adr/0011: no network, no project checkout or virtualenv, everything
read-only but a tiny /tmp, a seccomp filter, killed at a wall-clock limit) running
image_worker.py under the sandbox's system interpreter with Debian's Pillow (python3-pil),
which lowers its own rlimits before it reads the file. This module imports neither Django
nor Pillow, and reads no settings (docs/sandbox.md, Images):

    imager = Imager(sandbox_host(), ImagingLimits())
    upload = imager.clean(data, max_bytes=10_000_000, max_pixels=40_000_000)   # CleanImage
    smaller = imager.variants(upload.data, (480, 960))                          # [Variant]

ImageRefused: the file is not an acceptable image (permanent; the message tells the user
why). ImagingUnavailable: nothing was decoded because the sandbox could not run
(`permanent`: this machine cannot confine decoding at all; otherwise try again later).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from core.learning.sandbox import SandboxHost, bubblewrap
from core.learning.sandbox.probe import ALWAYS_HIDDEN, current_probe

MB = 1024 * 1024
WORKER_SOURCE = Path(__file__).with_name("image_worker.py")
WORKER_FILE = "/box/image_worker.py"
REQUEST_FILE = "/box/request.json"
IMAGE_FILE = "/box/image"
READY = b'{"event": "ready"}'
PROTOCOL_SLACK = 64 * 1024  # the header line around the images, on top of limits.output_mb
DEFAULT_MAX_PIXELS = 40_000_000
CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}
CLEAN_FORMATS = {"png": "png", "jpeg": "jpeg", "gif": "png", "webp": "webp"}  # a GIF keeps its first frame
VARIANT_FORMATS = ("webp", "jpeg")  # per width, in this order
TIMES = "\u00d7"  # MULTIPLICATION SIGN, between width and height in what users read
NOT_AN_IMAGE = "The file is not a PNG, JPEG, GIF or WebP image."
CORRUPT = "The image is truncated or corrupt."
OVER_LIMITS = "The image could not be decoded within the limits."
# Where the system interpreter's Pillow lives: the PIL package and, for a pip wheel, the
# libraries it bundles beside it. Importing PIL.Image also loads its C core.
LOCATE_PILLOW = (
    "import json, os, PIL, PIL.Image; package = os.path.dirname(os.path.realpath(PIL.__file__)); "
    "libs = [os.path.join(os.path.dirname(package), n) for n in ('pillow.libs', 'Pillow.libs')]; "
    "print(json.dumps({'package': package, 'libs': [p for p in libs if os.path.isdir(p)]}))"
)

RefusalReason = Literal["too_large", "not_an_image", "pixels", "corrupt", "limits", "output"]


class ImageRefused(ValueError):
    """The file is not an acceptable image; permanent: trying again gives the same answer.

    The message is for the uploader ("The image is 30000{TIMES}30000 pixels; at most
    40,000,000 are allowed."); `reason` is for code: too_large (bytes), not_an_image,
    pixels, corrupt, limits (the decoder was stopped by a memory, CPU or time limit), output
    (too large once re-encoded). `detail`, for logs only, is what the decoder said, if any.
    """

    def __init__(self, message: str, *, reason: RefusalReason, detail: str = "") -> None:
        super().__init__(message)
        self.reason: RefusalReason = reason
        self.detail = detail


class ImagingUnavailable(RuntimeError):
    """Nothing was decoded, and the file must not be decoded unconfined instead.

    `permanent`: this machine cannot confine decoding (no working sandbox, no Pillow for the
    sandbox's interpreter) until it changes; otherwise this one run did not start or did
    not answer, and a later one may well work.
    """

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class CleanImage:
    """An upload re-encoded upright, without metadata; `format` is png, jpeg or webp."""

    data: bytes
    format: str
    content_type: str
    width: int
    height: int


@dataclass(frozen=True)
class Variant:
    """A smaller copy of an image, for slow connections; `format` is webp or jpeg."""

    width: int
    height: int
    format: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class ImagingLimits:
    """The limits of one confined decoding run.

    memory_mb bounds the worker's address space (RLIMIT_AS); it is a ceiling, not a
    reservation. Pillow keeps up to 4 bytes per pixel, so a 40-megapixel image is 160 MB
    decoded, and the worker holds it at most twice (the decoded image and its turned or
    converted copy). The most demanding legitimate case measured is re-encoding a
    40-megapixel lossless WebP (libwebp's decoder keeps its own canvas and the lossless
    encoder needs ~1.2 GB); 1536 MB allows it, while a bomb that got past the pixel checks
    (60000x60000 is 3.6 GB at one byte per pixel) still fails to allocate. A 6000x4000 JPEG
    needs under 384 MB. Lower max_pixels allows a lower memory_mb. cpu_s is the worker's CPU
    time (RLIMIT_CPU); wall_s bounds the whole run (the sandbox is killed a few seconds
    after). output_mb is the most one call returns (all its images together). tmp_mb sizes
    the sandbox's /tmp, which the worker never writes.
    """

    memory_mb: int = 1536
    cpu_s: int = 20
    wall_s: int = 40
    output_mb: int = 64
    tmp_mb: int = 1

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"ImagingLimits.{f.name} must be a positive integer, not {value!r}")


@dataclass(frozen=True)
class Produced:
    """One image the worker returned, checked against what was asked for."""

    format: str
    width: int
    height: int
    data: bytes


def sniff(data: bytes) -> str | None:
    """The image format the bytes start with: "png", "jpeg", "gif", "webp", or None.

    The magic bytes alone decide: a file's name and declared content type are the uploader's
    word, and an HTML or SVG file named photo.png is not an image.
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


@dataclass(frozen=True)
class Imager:
    """Decodes images in a fresh sandbox per call, on `host` (as grading does) within `limits`.

    Both methods block for at most about limits.wall_s + 3 s, and return only after the
    sandbox and its process are gone. They raise ImageRefused for a file that is not an
    acceptable image (whatever it made the decoder do), ImagingUnavailable when nothing ran.
    """

    host: SandboxHost
    limits: ImagingLimits = ImagingLimits()

    def clean(self, data: bytes, *, max_bytes: int, max_pixels: int) -> CleanImage:
        """`data` validated, turned upright (EXIF orientation), and re-encoded without its
        metadata (EXIF and GPS, XMP, comments, text chunks; the ICC profile stays, for colour):
        PNG, JPEG and WebP in their own format, a GIF's first frame as PNG."""
        fmt = accept(data, max_bytes)
        request = {"mode": "clean", "format": fmt, "max_pixels": max_pixels}
        produced = self.run(request, data)
        if len(produced) != 1:
            raise malformed(f"{len(produced)} images for one")
        image = produced[0]
        if image.format != CLEAN_FORMATS[fmt] or image.width * image.height > max_pixels:
            raise malformed(f"a {image.format} of {image.width}x{image.height} for a {fmt}")
        return CleanImage(image.data, image.format, CONTENT_TYPES[image.format], image.width, image.height)

    def variants(self, data: bytes, widths: tuple[int, ...], *,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> list[Variant]:
        """A WebP and a JPEG (flattened onto white where the image has alpha) at each of
        `widths` smaller than the image, aspect ratio kept, never upscaled; ordered by width,
        WebP first. An image no wider than the smallest width has none. `data` is normally a
        CleanImage's; it is decoded confined all the same."""
        if any(not isinstance(w, int) or isinstance(w, bool) or w < 1 for w in widths):
            raise ValueError(f"variant widths must be positive integers, not {widths!r}")
        fmt = accept(data, self.limits.output_mb * MB)
        wanted = sorted(set(widths))
        produced = self.run({"mode": "variants", "format": fmt, "max_pixels": max_pixels, "widths": wanted}, data)
        expected = [(w, f) for w in wanted for f in VARIANT_FORMATS][: len(produced)]
        if [(p.width, p.format) for p in produced] != expected or len(produced) % len(VARIANT_FORMATS):
            raise malformed(f"variants {[(p.width, p.format) for p in produced]} for widths {wanted}")
        return [Variant(p.width, p.height, p.format, CONTENT_TYPES[p.format], p.data) for p in produced]

    def run(self, request: dict[str, Any], data: bytes) -> list[Produced]:
        """Run the worker on `data` in a fresh sandbox and read its answer."""
        env, pillow_path = sandbox_environment(self.host)
        files = {WORKER_FILE: WORKER_SOURCE.read_bytes(), IMAGE_FILE: data,
                 REQUEST_FILE: json.dumps(worker_request(request, pillow_path, self.limits)).encode()}
        argv = [env.interpreter.executable, "-I", "-S", "-B", WORKER_FILE]
        try:
            run = bubblewrap.run(env, files, argv, tmp_bytes=self.limits.tmp_mb * MB, wall_s=self.limits.wall_s,
                                 stdout_cap=self.limits.output_mb * MB + PROTOCOL_SLACK)
        except OSError as exc:
            raise ImagingUnavailable(f"bubblewrap could not be started: {exc}", permanent=False) from exc
        return read_answer(run, request, self.limits)


def accept(data: bytes, max_bytes: int) -> str:
    """The format of `data`, sniffed before any process starts; refuses what cannot be one."""
    if len(data) > max_bytes:
        raise ImageRefused(f"The file is {len(data):,} bytes; at most {max_bytes:,} are allowed.",
                           reason="too_large")
    fmt = sniff(data)
    if fmt is None:
        raise ImageRefused(NOT_AN_IMAGE, reason="not_an_image")
    return fmt


def worker_request(request: dict[str, Any], pillow_path: str, limits: ImagingLimits) -> dict[str, Any]:
    """/box/request.json: the call's request and everything the worker needs to confine itself."""
    return {"widths": [], **request, "pillow_path": pillow_path, "memory_mb": limits.memory_mb,
            "cpu_s": limits.cpu_s, "max_output_bytes": limits.output_mb * MB}


# --- the sandbox, with Pillow -------------------------------------------------------------------


def sandbox_environment(host: SandboxHost) -> tuple[bubblewrap.Environment, str]:
    """The grading sandbox's environment (probed and self-tested once per process, fail
    closed) plus read-only binds of the interpreter's Pillow, and where the worker imports
    it from.

    Grading's own environment is not changed: learners' code still sees no third-party
    package. Only image runs see Pillow, and only its own directories, not the rest of
    dist-packages.
    """
    probe = current_probe(host)
    if probe.environment is None:
        raise ImagingUnavailable(f"Image processing refused: no sandbox is available on this machine "
                                 f"({probe.reason}).", permanent=True)
    env = probe.environment
    package, libs = locate_pillow(env.interpreter.executable, host.hidden)
    readable = env.interpreter.readable
    extra = tuple(p for p in (package, *libs) if not any(covers(r, p) for r in readable))
    interpreter = dataclasses.replace(env.interpreter, readable=(*readable, *extra))
    return dataclasses.replace(env, interpreter=interpreter), os.path.dirname(package)


@functools.cache
def locate_pillow(python: str, hidden: tuple[Path, ...]) -> tuple[str, tuple[str, ...]]:
    """(PIL's package directory, bundled library directories) of `python`, asked of it once
    per process (a failure is not cached). Refuses a Pillow inside a place the sandbox hides
    (the project, its virtualenv, /etc, /home...): binding it would show that place."""
    try:
        done = subprocess.run(  # noqa: S603 - a fixed interpreter with a fixed program
            [python, "-I", "-c", LOCATE_PILLOW], capture_output=True, timeout=30, check=False, env={})
    except (OSError, subprocess.SubprocessError) as exc:
        raise ImagingUnavailable(f"the sandbox interpreter {python} did not run: {exc}", permanent=False) from exc
    try:
        found = json.loads(done.stdout)
        package, libs = str(found["package"]), tuple(str(p) for p in found["libs"])
    except (ValueError, KeyError, TypeError):
        last_words = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
        raise ImagingUnavailable(f"Pillow is not installed for the sandbox interpreter {python} (Debian: "
                                 f"python3-pil): {''.join(last_words) or done.returncode}", permanent=True) from None
    forbidden = [*hidden, *(Path(p) for p in ALWAYS_HIDDEN)]
    for path in (package, *libs):
        if not os.path.isabs(path) or any(Path(path).is_relative_to(place) for place in forbidden):
            raise ImagingUnavailable(f"the sandbox interpreter's Pillow lies in {path}, which the sandbox hides",
                                     permanent=True)
    return package, libs


def covers(directory: str, path: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


# --- the worker's answer ----------------------------------------------------------------------------


def read_answer(run: bubblewrap.SandboxRun, request: dict[str, Any], limits: ImagingLimits) -> list[Produced]:
    """The worker's images; raises what its answer, or its silence, means.

    No "ready" line: the sandbox or the worker did not come up, and nothing of the file was
    read (ImagingUnavailable, not permanent). "ready" and then no complete header: the
    worker was killed while decoding (memory, CPU or wall clock), by the file's doing.
    """
    ready, _, rest = run.stdout.partition(b"\n")
    if ready != READY:
        raise ImagingUnavailable("the image worker did not start: " + diagnostics(run), permanent=False)
    line, newline, blobs = rest.partition(b"\n")
    if not newline:
        raise ImageRefused(OVER_LIMITS, reason="limits", detail=diagnostics(run))
    try:
        header = json.loads(line)
        if header["status"] == "refused":
            outcome: list[Produced] | ImageRefused = refusal(header, request, limits)
        else:
            outcome = split_images(header["images"], blobs)
    except (ValueError, KeyError, TypeError) as exc:
        raise malformed(f"{exc!r:.200}") from None
    if isinstance(outcome, ImageRefused):
        raise outcome
    return outcome


def split_images(entries: list[dict[str, Any]], blobs: bytes) -> list[Produced]:
    """The images the header announces, cut from the bytes after it; every byte accounted for,
    and each image's bytes of the format it claims."""
    produced: list[Produced] = []
    offset = 0
    for entry in entries:
        fmt, width, height, length = entry["format"], entry["width"], entry["height"], entry["length"]
        if not all(type(n) is int and n >= 0 for n in (width, height, length)) or width * height == 0:
            raise ValueError(f"bad image entry {entry!r:.200}")
        data = blobs[offset:offset + length]
        if len(data) != length or sniff(data) != fmt:
            raise ValueError(f"image {len(produced)} is not the {length} bytes of {fmt} announced")
        produced.append(Produced(fmt, width, height, data))
        offset += length
    if offset != len(blobs):
        raise ValueError(f"{len(blobs) - offset} bytes after the announced images")
    return produced


def refusal(header: dict[str, Any], request: dict[str, Any], limits: ImagingLimits) -> ImageRefused:
    """The user's message for the worker's refusal; built here from numbers only, so no text
    the file influenced reaches the user."""
    reason, detail = header["reason"], str(header.get("detail", ""))[:300]
    if reason == "pixels":
        return ImageRefused(pixels_message(header, request["max_pixels"]), reason="pixels")
    if reason == "corrupt":
        return ImageRefused(CORRUPT, reason="corrupt", detail=detail)
    if reason == "limits":
        return ImageRefused(OVER_LIMITS, reason="limits")
    if reason == "output":
        return ImageRefused(f"The image is too large once re-encoded ({count(header, 'length'):,} bytes; at most "
                            f"{limits.output_mb * MB:,} are allowed).", reason="output")
    raise ValueError(f"unknown refusal {reason!r:.100}")


def pixels_message(header: dict[str, Any], max_pixels: int) -> str:
    if "width" in header:
        size = f"{count(header, 'width')}{TIMES}{count(header, 'height')} pixels"
        return f"The image is {size}; at most {max_pixels:,} are allowed."
    return f"The image has too many pixels; at most {max_pixels:,} are allowed."


def count(header: dict[str, Any], key: str) -> int:
    value = header[key]
    if type(value) is not int or value < 0:
        raise ValueError(f"{key} is not a count: {value!r:.100}")
    return value


def malformed(what: str) -> ImageRefused:
    """The worker answered, but not as it does: only the file can have made it (a decoder
    gone wrong), so the file is refused; `detail` keeps what was wrong, for the logs."""
    return ImageRefused("The image could not be processed.", reason="corrupt", detail=f"malformed answer: {what}")


def diagnostics(run: bubblewrap.SandboxRun) -> str:
    stderr = run.stderr.decode("utf-8", "replace").strip()
    state = "killed at the wall-clock limit" if run.killed_at_deadline else f"exit status {run.returncode}"
    return state + (f": {stderr[-2000:]}" if stderr else "")
