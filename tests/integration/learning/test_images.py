"""Lesson images end to end in-process: upload through the page and the API, variants made by
the task in the real sandbox, pages serving <picture>s, hostile files refused, and no agency
seeing another's images (core/learning/media.py; the sandbox's own hostile tests are in
tests/unit/learning/test_imaging.py)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from core.accounts.models import User
from core.learning import media
from core.learning.models import Kind, LessonImage
from outbox.models import OutboxEvent
from tests.helpers import images
from tests.helpers.learning import published
from tests.helpers.outbox import events_of, execute, pending_tasks
from tests.helpers.web import signed_in

pytestmark = pytest.mark.usefixtures("outbox_db")


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Any) -> Any:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def upload(client: Any, data: bytes, name: str = "wound-dressing.jpg") -> Any:
    return client.post("/api/images", {"image": SimpleUploadedFile(name, data)})


def variants_event() -> OutboxEvent:
    [event] = pending_tasks("learning.make_image_variants")
    return event


def test_an_upload_is_cleaned_stored_and_its_variants_are_made_by_the_batch_task(bob: User, media_root: Any) -> None:
    photo = images.photo_with_metadata(1200, 800, orientation=1)
    response = upload(signed_in(bob), photo)
    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["width"], body["height"], body["format"]) == ("processing", 1200, 800, "jpeg")
    assert body["markdown"] == f"![wound-dressing](/learning/images/{body['id']}/)"
    image = LessonImage.objects.get(id=body["id"])
    with default_storage.open(image.original, "rb") as stored:
        original = stored.read()
    assert b"Exif" not in original  # cleaned before it was stored
    event = variants_event()
    assert event.queue == "batch"
    assert execute(event) == "ready"
    image.refresh_from_db()
    assert image.status == "ready"
    assert sorted((v["width"], v["height"], v["format"]) for v in image.variants) == [
        (480, 320, "jpeg"), (480, 320, "webp"), (960, 640, "jpeg"), (960, 640, "webp")]
    for variant in image.variants:
        assert default_storage.exists(variant["name"])
    [ready] = events_of("image.ready")
    assert ready.channel == f"tenant:{bob.tenant_id}:user:{bob.id}:events"


def test_a_lesson_serves_a_picture_of_the_variants_once_ready_and_the_original_before(
        bob: User, lena: User) -> None:
    image = media.upload_image(bob, images.picture("png", 1000, 500), "chart.png")
    version = published(bob, bob, kind=Kind.LESSON, title="Reading a wound chart",
                        body=f"Look at this:\n\n{media.markdown_of(image)}\n")
    page = signed_in(lena).get(f"/learning/lessons/{version.content_id}/").content.decode()
    assert f'src="/learning/images/{image.id}/"' in page
    assert "<picture>" not in page
    assert 'width="1000" height="500"' in page
    execute(variants_event())
    page = signed_in(lena).get(f"/learning/lessons/{version.content_id}/").content.decode()
    assert "<picture>" in page
    assert f'<source type="image/webp" srcset="/learning/images/{image.id}/w480.webp 480w, ' \
           f'/learning/images/{image.id}/w960.webp 960w"' in page
    assert f"/learning/images/{image.id}/ 1000w" in page  # the original stays the widest choice
    served = signed_in(lena).get(f"/learning/images/{image.id}/w480.webp")
    assert served.status_code == 200
    assert served["Content-Type"] == "image/webp"
    assert served["X-Content-Type-Options"] == "nosniff"
    assert b"".join(served.streaming_content)[:4] == b"RIFF"  # type: ignore[attr-defined]


@pytest.mark.parametrize(("data", "name", "message"), [
    (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "innocent.png",
     "not a PNG, JPEG, GIF or WebP"),
    (images.png_bomb(60_000, 60_000), "bomb.png", "60000\u00d760000 pixels"),
    (images.noisy_jpeg(400, 300)[:-2000], "cut.jpg", "truncated or corrupt"),
    (b"", "empty.png", "image is required"),
])
def test_a_hostile_or_broken_file_is_refused_naming_the_field_and_nothing_is_kept(
        bob: User, media_root: Any, data: bytes, name: str, message: str) -> None:
    response = upload(signed_in(bob), data, name)
    assert response.status_code == 400
    assert response.json()["field"] == "image"
    assert message in response.json()["message"]
    assert not LessonImage.objects.exists()
    assert not OutboxEvent.objects.filter(event_type="image.uploaded").exists()
    assert not any(media_root.rglob("*.*"))


def test_a_file_over_the_size_limit_is_refused_before_it_is_decoded(settings: Any, bob: User) -> None:
    settings.IMAGE_MAX_BYTES = 2048
    response = upload(signed_in(bob), images.noisy_png(200, 200))
    assert response.status_code == 400
    assert (response.json()["field"], response.json()["message"]) == ("image", "image is larger than 2 KB")


def test_the_upload_page_shows_the_refusal_beside_the_field(bob: User) -> None:
    cut = SimpleUploadedFile("x.jpg", images.noisy_jpeg(400, 300)[:-2000])
    response = signed_in(bob).post("/learning/review/images/", {"image": cut})
    assert response.status_code == 400
    assert 'id="image-error"' in response.content.decode()
    assert "truncated or corrupt" in response.content.decode()


def test_another_agencys_image_is_never_served_listed_or_shown(bob: User, carol: User) -> None:
    image = media.upload_image(bob, images.picture("png", 600, 400), "harbor.png")
    stranger = signed_in(carol)
    assert stranger.get(f"/learning/images/{image.id}/").status_code == 404
    assert stranger.get(f"/api/images/{image.id}").status_code == 404
    assert stranger.get("/api/images").json() == []
    theirs = published(carol, carol, kind=Kind.LESSON, title="Borrowed", body=f"![x](/learning/images/{image.id}/)")
    page = stranger.get(f"/learning/lessons/{theirs.content_id}/").content.decode()
    assert 'width="600"' not in page  # not even its size leaks into another agency's page


def test_variants_delivered_twice_are_made_once(bob: User) -> None:
    image = media.upload_image(bob, images.picture("png", 1000, 500), "chart.png")
    event = variants_event()
    assert execute(event) == "ready"
    with connection.cursor() as cursor:  # the sweep redelivers it
        cursor.execute("UPDATE outbox_event SET status = 'pending' WHERE id = %s", [event.id])
    event.refresh_from_db()
    execute(event)
    image.refresh_from_db()
    assert image.status == "ready"
    assert len(events_of("image.ready")) == 1


def test_an_original_the_sandbox_cannot_decode_fails_its_variants_once_without_retrying(bob: User) -> None:
    image = media.upload_image(bob, images.picture("png", 1000, 500), "chart.png")
    with default_storage.open(image.original, "wb") as stored:  # whatever happened to the file since
        stored.write(images.png_bomb(60_000, 60_000))
    event = variants_event()
    assert execute(event) == "failed"
    image.refresh_from_db()
    assert image.status == "failed"
    assert "60000\u00d760000 pixels" in image.error
    assert OutboxEvent.objects.get(id=event.id).status == "completed"  # no retry loop
    assert pending_tasks("learning.make_image_variants") == []
