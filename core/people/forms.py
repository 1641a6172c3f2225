"""Forms of the people pages. They check shapes; the write functions (core/people/services.py)
check the rules and name the field, and core.dispatch-style `save_with` is not needed here:
views put a DomainError's message under the field it names."""

from __future__ import annotations

from django import forms

from core.platform.roles import Role

ROLE_CHOICES = [(role.value, role.value.replace("_", " ")) for role in Role]


def _roles(label: str, required: bool = True) -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(label=label, choices=ROLE_CHOICES, required=required,
                                     widget=forms.CheckboxSelectMultiple)


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=254)
    roles = _roles("Roles")


class RolesForm(forms.Form):
    roles = _roles("Roles", required=False)


class MfaPolicyForm(forms.Form):
    mfa_roles = _roles("Roles that must use a second factor", required=False)


class JoinForm(forms.Form):
    full_name = forms.CharField(label="Your name", max_length=300, required=False)
    username = forms.CharField(label="User name", max_length=150,
                               help_text="Letters, digits and @ . + - _ only.")
    password = forms.CharField(label="Password", widget=forms.PasswordInput, strip=False)
    password_again = forms.CharField(label="Password again", widget=forms.PasswordInput, strip=False)

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("password") and data.get("password") != data.get("password_again"):
            self.add_error("password_again", "The two passwords differ.")
        return data


class CodeForm(forms.Form):
    token = forms.CharField(label="Code", max_length=32, widget=forms.TextInput(attrs={
        "autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}))


class PreferencesForm(forms.Form):
    time_zone = forms.CharField(label="Time zone", max_length=64, required=False, help_text=(
        "An IANA name such as America/New_York; leave empty to use your agency's."))
