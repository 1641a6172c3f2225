"""The learning pages (included by core/config/urls.py under /learning/)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from core.learning import digest_views, export_views, media_views, review_views, similarity_views, views

app_name = "learning"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.index, name="index"),
    path("search/", views.search, name="search"),
    path("problems/<int:problem_id>/", views.problem, name="problem"),
    path("lessons/<int:lesson_id>/", views.lesson, name="lesson"),
    path("review/", views.review_queue, name="review_queue"),
    path("review/new/", views.new_content, name="new_content"),
    path("review/contents/<int:content_id>/new-version/", views.new_version, name="new_version"),
    path("review/contents/<int:content_id>/unpublish/", views.unpublish_content, name="unpublish"),
    path("review/contents/<int:content_id>/rollback/", views.rollback_content, name="rollback"),
    path("review/versions/<int:version_id>/", views.version, name="version"),
    path("review/versions/<int:version_id>/submit/", views.submit_version, name="submit"),
    path("review/versions/<int:version_id>/review/", views.review_version, name="review"),
    path("review/versions/<int:version_id>/publish/", views.publish_version, name="publish"),
    path("review/reviews/<int:review_id>/reply/", views.reply, name="reply"),
    path("review/images/", media_views.images, name="images"),
    path("review/exports/", export_views.export_bundles, name="exports"),
    path("review/exports/<int:bundle_id>/file", export_views.export_file, name="export_file"),
    path("images/<int:image_id>/", media_views.image_file, name="image"),
    path("images/<int:image_id>/<str:variant>", media_views.image_file, name="image_variant"),
    path("review/similarity/", similarity_views.flags, name="similarity_flags"),
    path("review/similarity/<int:flag_id>/", similarity_views.flag, name="similarity_flag"),
    path("review/similarity/<int:flag_id>/decide/", similarity_views.decide, name="similarity_decide"),
    path("lessons/<int:lesson_id>/done/", review_views.finish_lesson, name="finish_lesson"),
    path("due/", review_views.due, name="review_due"),
    path("due/<int:card_id>/answer/", review_views.answer, name="review_answer"),
    path("digest/", digest_views.digest_preferences, name="digest_preferences"),
    path("digest/unsubscribe/<str:token>/", digest_views.digest_unsubscribe, name="digest_unsubscribe"),
]
