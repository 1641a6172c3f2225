"""Lesson images decoded confined (core.learning.imaging): every test but the sniffing ones runs
the real image worker in a real bubblewrap sandbox, as grading does.

Lena the learner's phone photo carries where she lives; an author's upload may be a bomb, a
cut-off file or a web page named .png. None of it may reach a web or worker process's Pillow,
and none of it may crash anything: each is an image, or a refusal that says why.
"""

from __future__ import annotations

import random
import time

import pytest

from core.learning.grading import sandbox_host, sandbox_limits
from core.learning.imaging import (
    READY,
    TIMES,
    CleanImage,
    Imager,
    ImageRefused,
    ImagingLimits,
    ImagingUnavailable,
    Variant,
    read_answer,
    sandbox_environment,
    sniff,
)
from core.learning.sandbox import SandboxHost, grade
from core.learning.sandbox.bubblewrap import SandboxRun
from core.learning.sandbox.probe import require_isolation
from tests.helpers import images
from tests.helpers.images import BLUE, GREEN, RED, WHITE, XMP_PACKET, close_to, describe

MAX_BYTES = 10_000_000
MAX_PIXELS = 40_000_000
# A machine with no bubblewrap: anything that reaches the sandbox fails as unavailable.
NO_SANDBOX = SandboxHost(bwrap="/nonexistent/bwrap", hidden=sandbox_host().hidden)


@pytest.fixture(scope="module")
def imager() -> Imager:
    """This machine's sandbox, as the settings describe it, with the default limits."""
    return Imager(sandbox_host())


def clean(imager: Imager, data: bytes, **limits: int) -> CleanImage:
    return imager.clean(data, max_bytes=limits.get("max_bytes", MAX_BYTES),
                        max_pixels=limits.get("max_pixels", MAX_PIXELS))


# --- sniffing --------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "fmt"), [
    (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "png"),
    (b"\xff\xd8\xff\xe0\0\x10JFIF", "jpeg"),
    (b"GIF89a\x01\0\x01\0", "gif"),
    (b"GIF87a\x01\0\x01\0", "gif"),
    (b"RIFF\x24\0\0\0WEBPVP8 ", "webp"),
    (b"RIFF\x24\0\0\0WAVEfmt ", None),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', None),
    (b"", None),
])
def test_the_format_is_sniffed_from_the_magic_bytes_alone(data: bytes, fmt: str | None) -> None:
    assert sniff(data) == fmt


# --- clean: ordinary images ------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "pil_format", "content_type"), [
    ("png", "PNG", "image/png"),
    ("jpeg", "JPEG", "image/jpeg"),
    ("webp", "WEBP", "image/webp"),
])
def test_a_png_jpeg_or_webp_is_cleaned_into_the_same_format_and_size(
        imager: Imager, fmt: str, pil_format: str, content_type: str) -> None:
    cleaned = clean(imager, images.picture(pil_format, 300, 200))

    assert (cleaned.format, cleaned.content_type, cleaned.width, cleaned.height) == (fmt, content_type, 300, 200)
    facts = describe(cleaned.data, ((50, 100), (250, 100)))
    assert (facts["format"], facts["size"]) == (pil_format, [300, 200])
    assert close_to(facts["colors"][0], RED)
    assert close_to(facts["colors"][1], BLUE)


def test_a_lossless_webp_stays_lossless(imager: Imager) -> None:
    cleaned = clean(imager, images.webp_with_metadata(64, 64, lossless=True))

    assert cleaned.data[12:16] == b"VP8L"  # the lossless bitstream (a lossy one is "VP8 ")
    assert describe(cleaned.data, ((10, 10),))["colors"] == [list(RED)]  # exactly: no loss


def test_a_large_24_megapixel_photo_is_cleaned_within_the_limits(imager: Imager) -> None:
    photo = images.picture("JPEG", 6000, 4000, quality=95)

    cleaned = clean(imager, photo)

    assert (cleaned.format, cleaned.width, cleaned.height) == ("jpeg", 6000, 4000)
    assert describe(cleaned.data)["size"] == [6000, 4000]


# --- clean: metadata and orientation -----------------------------------------------------------


def test_a_sideways_phone_photo_is_turned_upright(imager: Imager) -> None:
    # Stored 300x200, red left and blue right; orientation 6 means "turn 90° clockwise to view",
    # so upright it is 200x300 with red on top.
    cleaned = clean(imager, images.photo_with_metadata(300, 200, orientation=6))

    assert (cleaned.width, cleaned.height) == (200, 300)
    facts = describe(cleaned.data, ((100, 40), (100, 260)))
    assert facts["size"] == [200, 300]
    assert close_to(facts["colors"][0], RED)
    assert close_to(facts["colors"][1], BLUE)


def test_a_photos_exif_gps_xmp_and_comment_are_gone(imager: Imager) -> None:
    photo = images.photo_with_metadata(300, 200, orientation=6)
    # The premise: the photo carries all of it.
    assert b"Exif" in photo
    assert XMP_PACKET in photo
    assert b"Lena Learner" in photo

    cleaned = clean(imager, photo)

    assert b"Exif" not in cleaned.data
    assert b"Harbor Phone" not in cleaned.data
    assert b"Lena Learner" not in cleaned.data
    assert b"http://ns.adobe.com/xap" not in cleaned.data
    facts = describe(cleaned.data)
    assert facts["exif"] == []
    assert facts["gps"] == {}
    assert "comment" not in facts["info"]
    assert "exif" not in facts["info"]


def test_a_pngs_text_xmp_and_exif_chunks_are_gone(imager: Imager) -> None:
    png = images.png_with_metadata(120, 80)
    assert b"tEXt" in png
    assert b"iTXt" in png
    assert b"eXIf" in png

    cleaned = clean(imager, png)

    for chunk in (b"tEXt", b"iTXt", b"zTXt", b"eXIf", b"Lena Learner", b"Harbor Phone"):
        assert chunk not in cleaned.data
    facts = describe(cleaned.data)
    assert facts["exif"] == []
    assert facts["gps"] == {}
    assert "Author" not in facts["info"]


def test_a_webps_exif_and_xmp_are_gone(imager: Imager) -> None:
    webp = images.webp_with_metadata(120, 80, lossless=False)
    assert b"EXIF" in webp
    assert b"XMP " in webp

    cleaned = clean(imager, webp)

    for chunk in (b"EXIF", b"XMP ", b"Lena Learner", b"Harbor Phone"):
        assert chunk not in cleaned.data
    assert cleaned.data[12:16] == b"VP8 "  # lossy stays lossy
    assert describe(cleaned.data)["exif"] == []


def test_an_animated_gif_is_cleaned_into_its_first_frame_as_a_png(imager: Imager) -> None:
    cleaned = clean(imager, images.animated_gif([RED, GREEN, BLUE]))

    assert (cleaned.format, cleaned.content_type, cleaned.width, cleaned.height) == ("png", "image/png", 64, 48)
    facts = describe(cleaned.data, ((10, 10),))
    assert (facts["format"], facts["frames"]) == ("PNG", 1)
    assert close_to(facts["colors"][0], RED)  # (the GIF's palette holds 204, 0, 0)


# --- clean: refusals -----------------------------------------------------------------------------


def test_a_decompression_bomb_is_refused_by_its_pixel_count_before_decoding(imager: Imager) -> None:
    bomb = images.png_bomb(60000, 60000)  # 3.6 GB of pixels in a few hundred bytes
    started = time.monotonic()

    with pytest.raises(ImageRefused) as refused:
        clean(imager, bomb)

    assert str(refused.value) == f"The image is 60000{TIMES}60000 pixels; at most 40,000,000 are allowed."
    assert refused.value.reason == "pixels"
    assert time.monotonic() - started < 10  # refused from the header, not after a struggle


def test_a_bomb_let_past_the_pixel_check_is_stopped_by_the_memory_limit(imager: Imager) -> None:
    with pytest.raises(ImageRefused) as refused:
        clean(imager, images.png_bomb(60000, 60000), max_pixels=60000 * 60000)

    assert refused.value.reason == "limits"
    assert str(refused.value) == "The image could not be decoded within the limits."


def test_a_run_that_exhausts_its_cpu_time_is_refused_as_over_the_limits(imager: Imager) -> None:
    # Thirty near-full-size variants of a 24-megapixel image: far more than a CPU second.
    tight = Imager(imager.host, ImagingLimits(cpu_s=1))
    started = time.monotonic()

    with pytest.raises(ImageRefused) as refused:
        tight.variants(images.picture("PNG", 6000, 4000), tuple(range(3000, 6000, 100)))

    assert refused.value.reason == "limits"
    assert time.monotonic() - started < tight.limits.wall_s  # the CPU limit, not the wall clock


def test_an_image_too_large_once_re_encoded_is_refused_with_the_limit(imager: Imager) -> None:
    noisy = images.noisy_png(1000, 1000)
    assert len(noisy) > 1024 * 1024

    with pytest.raises(ImageRefused, match=r"^The image is too large once re-encoded \([\d,]+ bytes; "
                                           r"at most 1,048,576 are allowed\)\.$") as refused:
        Imager(imager.host, ImagingLimits(output_mb=1)).clean(noisy, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)

    assert refused.value.reason == "output"


def test_an_image_with_more_pixels_than_allowed_is_refused_with_its_size(imager: Imager) -> None:
    with pytest.raises(ImageRefused, match=rf"^The image is 300{TIMES}200 pixels; at most 50,000 are allowed\.$"):
        clean(imager, images.picture("WEBP", 300, 200), max_pixels=50_000)


def test_a_truncated_jpeg_is_refused_as_truncated_or_corrupt(imager: Imager) -> None:
    jpeg = images.noisy_jpeg(400, 300)

    with pytest.raises(ImageRefused) as refused:
        clean(imager, jpeg[: len(jpeg) // 2])

    assert (refused.value.reason, str(refused.value)) == ("corrupt", "The image is truncated or corrupt.")
    assert "truncated" in refused.value.detail  # what Pillow said, for the logs


@pytest.mark.parametrize("data", [
    pytest.param(random.Random(7).randbytes(4096), id="random bytes"),
    pytest.param(b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', id="svg named .png"),
    pytest.param(b"<!doctype html><html><script>fetch('/api/me')</script></html>", id="html named .png"),
])
def test_a_file_that_is_not_an_image_is_refused_before_any_sandbox_starts(data: bytes) -> None:
    # NO_SANDBOX would raise ImagingUnavailable if anything tried to start a sandbox.
    with pytest.raises(ImageRefused, match=r"^The file is not a PNG, JPEG, GIF or WebP image\.$") as refused:
        Imager(NO_SANDBOX).clean(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)

    assert refused.value.reason == "not_an_image"


def test_a_file_over_the_byte_limit_is_refused_before_any_sandbox_starts() -> None:
    png = images.picture("PNG", 300, 200)

    with pytest.raises(ImageRefused, match=rf"^The file is {len(png):,} bytes; at most 100 are allowed\.$"):
        Imager(NO_SANDBOX).clean(png, max_bytes=100, max_pixels=MAX_PIXELS)


def test_without_a_sandbox_nothing_is_decoded_and_imaging_is_unavailable_for_good() -> None:
    with pytest.raises(ImagingUnavailable, match="no sandbox is available") as unavailable:
        Imager(NO_SANDBOX).clean(images.picture("PNG", 30, 20), max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)

    assert unavailable.value.permanent


# --- reading the worker's answer ---------------------------------------------------------------


def sandbox_run(stdout: bytes, *, returncode: int | None = 0, killed: bool = False) -> SandboxRun:
    return SandboxRun(stdout=stdout, stderr=b"", returncode=returncode, killed_at_deadline=killed)


CLEAN_REQUEST = {"mode": "clean", "format": "png", "max_pixels": MAX_PIXELS}


def test_a_worker_that_never_said_ready_is_unavailable_for_now_not_a_refusal() -> None:
    with pytest.raises(ImagingUnavailable, match="did not start: exit status 1") as unavailable:
        read_answer(sandbox_run(b"", returncode=1), CLEAN_REQUEST, ImagingLimits())

    assert not unavailable.value.permanent


@pytest.mark.parametrize("killed", [True, False], ids=["wall clock", "rlimit"])
def test_a_worker_killed_while_decoding_means_the_file_exceeded_the_limits(killed: bool) -> None:
    run = sandbox_run(READY + b"\n", returncode=None if killed else 137, killed=killed)

    with pytest.raises(ImageRefused, match="could not be decoded within the limits") as refused:
        read_answer(run, CLEAN_REQUEST, ImagingLimits())

    assert refused.value.reason == "limits"


@pytest.mark.parametrize("answer", [
    b'{"status": "ok", "images": [{"format": "png", "width": 1, "height": 1, "length": 9}]}\n<html>!!!',
    b'{"status": "ok", "images": [{"format": "png", "width": 1, "height": 1, "length": 8}]}\n\x89PNG\r\n\x1a\nmore',
    b'{"status": "refused", "reason": "pixels", "width": "a lot", "height": 1}\n',
    b"not json\n",
], ids=["bytes not of the announced format", "bytes left over", "text where a number belongs", "not json"])
def test_an_answer_the_worker_never_gives_refuses_the_file_rather_than_trusting_it(answer: bytes) -> None:
    with pytest.raises(ImageRefused, match="could not be processed") as refused:
        read_answer(sandbox_run(READY + b"\n" + answer), CLEAN_REQUEST, ImagingLimits())

    assert refused.value.reason == "corrupt"
    assert "malformed answer" in refused.value.detail


# --- variants --------------------------------------------------------------------------------------


def sizes(variants: list[Variant]) -> list[tuple[int, int, str, str]]:
    return [(v.width, v.height, v.format, v.content_type) for v in variants]


def test_a_2000_px_image_gets_a_webp_and_a_jpeg_at_480_and_960(imager: Imager) -> None:
    variants = imager.variants(images.picture("PNG", 2000, 1000), (960, 480))

    assert sizes(variants) == [(480, 240, "webp", "image/webp"), (480, 240, "jpeg", "image/jpeg"),
                               (960, 480, "webp", "image/webp"), (960, 480, "jpeg", "image/jpeg")]
    for variant in variants:
        facts = describe(variant.data, ((variant.width // 4, variant.height // 2),
                                        (variant.width * 3 // 4, variant.height // 2)))
        assert facts["size"] == [variant.width, variant.height]
        assert facts["format"] == variant.format.upper()
        assert close_to(facts["colors"][0], RED)
        assert close_to(facts["colors"][1], BLUE)


def test_a_600_px_image_gets_only_the_480_variants_and_is_never_upscaled(imager: Imager) -> None:
    variants = imager.variants(images.picture("JPEG", 600, 400), (480, 960))

    assert sizes(variants) == [(480, 320, "webp", "image/webp"), (480, 320, "jpeg", "image/jpeg")]


def test_an_image_no_wider_than_the_smallest_width_gets_no_variants(imager: Imager) -> None:
    assert imager.variants(images.picture("PNG", 480, 300), (480, 960)) == []


def test_the_jpeg_variant_of_a_transparent_png_is_flattened_onto_white(imager: Imager) -> None:
    webp, jpeg = imager.variants(images.transparent_png(1000, 500), (480,))

    points = ((100, 120), (380, 120))  # the transparent half, the blue half
    jpeg_facts, webp_facts = describe(jpeg.data, points), describe(webp.data, points)
    assert jpeg_facts["mode"] in ("RGB", "L")
    assert close_to(jpeg_facts["colors"][0], WHITE)
    assert close_to(jpeg_facts["colors"][1], BLUE)
    assert webp_facts["mode"] == "RGBA"
    assert webp_facts["colors"][0][3] == 0
    assert close_to(webp_facts["colors"][1], (*BLUE, 255))


def test_the_variants_of_a_sideways_photo_are_upright(imager: Imager) -> None:
    variants = imager.variants(images.photo_with_metadata(300, 200, orientation=6), (100,))

    assert sizes(variants) == [(100, 150, "webp", "image/webp"), (100, 150, "jpeg", "image/jpeg")]
    for variant in variants:
        facts = describe(variant.data, ((50, 20), (50, 130)))
        assert close_to(facts["colors"][0], RED)
        assert close_to(facts["colors"][1], BLUE)
        assert facts["exif"] == []


def test_a_16_bit_grey_png_gets_8_bit_variants_scaled_rather_than_clipped(imager: Imager) -> None:
    webp, jpeg = imager.variants(images.grey_16_bit_png(800, 400, level=32768), (480,))

    for variant in (webp, jpeg):
        assert close_to(describe(variant.data, ((240, 120),))["colors"][0], (128, 128, 128), tolerance=8)


def test_variants_of_a_bomb_are_refused_by_its_pixel_count(imager: Imager) -> None:
    with pytest.raises(ImageRefused, match=f"60000{TIMES}60000 pixels") as refused:
        imager.variants(images.png_bomb(60000, 60000), (480, 960))

    assert refused.value.reason == "pixels"


def test_variant_widths_must_be_positive_integers(imager: Imager) -> None:
    with pytest.raises(ValueError, match="positive integers"):
        imager.variants(images.picture("PNG", 30, 20), (480, 0))


# --- the sandbox ------------------------------------------------------------------------------------


def test_image_runs_add_only_pillows_own_directory_to_the_grading_sandbox() -> None:
    host = sandbox_host()
    grading = require_isolation(host)[1].interpreter.readable

    imaging, pillow_path = sandbox_environment(host)

    added = set(imaging.interpreter.readable) - set(grading)
    assert added == {f"{pillow_path}/PIL"}
    assert not any(place in path for path in added for place in ("/work/main", ".venv", "/etc", "/home"))


def test_submissions_graded_in_the_sandbox_still_cannot_import_pillow() -> None:
    tests = "def test_no_pillow():\n    try:\n        import PIL\n    except ImportError:\n        return\n" \
            "    raise AssertionError('Pillow is importable from ' + PIL.__file__)\n"

    report = grade("", tests, sandbox_limits(), sandbox_host())

    assert report.status == "passed", report.output
