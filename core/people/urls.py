from __future__ import annotations

from django.urls import path

from core.people import passwords, views

app_name = "people"

# The agency admin's pages, and the invitee's join page (/people/...).
urlpatterns = [
    path("", views.index, name="index"),
    path("invite/", views.invite, name="invite"),
    path("invitations/<int:invitation_id>/revoke/", views.revoke_invitation, name="revoke_invitation"),
    path("mfa-policy/", views.mfa_policy, name="mfa_policy"),
    path("<int:user_id>/", views.person, name="person"),
    path("<int:user_id>/roles/", views.set_roles, name="set_roles"),
    path("<int:user_id>/<slug:action>/", views.person_action, name="person_action"),
    path("join/<str:token>/", views.join, name="join"),
]

# Everyone's own account pages (/accounts/...): the second factor and passwords.
account_urlpatterns = [
    path("preferences/", views.preferences, name="preferences"),
    path("mfa/", views.second_factor, name="mfa"),
    path("mfa/setup/", views.enrol, name="mfa_enrol"),
    path("mfa/settings/", views.mfa_settings, name="mfa_settings"),
    path("mfa/recovery-codes/", views.recovery_codes, name="mfa_recovery_codes"),
    path("password/reset/", passwords.ResetRequestView.as_view(), name="password_reset"),
    path("password/reset/sent/", passwords.ResetDoneView.as_view(), name="password_reset_done"),
    path("password/reset/<uidb64>/<token>/", passwords.ResetConfirmView.as_view(), name="password_reset_confirm"),
    path("password/reset/done/", passwords.ResetCompleteView.as_view(), name="password_reset_complete"),
    path("password/change/", passwords.ChangeView.as_view(), name="password_change"),
    path("password/change/done/", passwords.ChangeDoneView.as_view(), name="password_change_done"),
]
