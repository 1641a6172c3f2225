"""Render the body of every version written before versions stored their rendering
(migration 0002), with the renderer of this release (core/learning/rendering.py).

A body the bounded renderer refuses (too slow or too deep: such bodies were accepted
before) keeps its text, escaped, in a <pre>, so no version is left without HTML. The same
function re-renders every version when RENDER_REVISION is bumped: a later migration calls
rerender_versions() again. Versions are immutable in their content fields only (migration
0001's trigger); the rendered columns are derived from the body and may be rewritten.
"""

from typing import Any

from django.db import migrations


def rerender_versions(apps: Any, schema_editor: Any) -> None:
    from core.learning.rendering import RENDER_REVISION, render_or_escape

    Version = apps.get_model("learning", "Version")
    stale = Version.objects.filter(render_revision__lt=RENDER_REVISION).order_by("id")
    for version_id, body in stale.values_list("id", "body").iterator(chunk_size=200):
        rendered = render_or_escape(body)
        Version.objects.filter(id=version_id).update(body_html=rendered.html, body_text=rendered.text,
                                                     render_revision=rendered.revision)


class Migration(migrations.Migration):
    dependencies = [("learning", "0002_rendered_bodies_fewer_indexes")]
    operations = [migrations.RunPython(rerender_versions, migrations.RunPython.noop)]
