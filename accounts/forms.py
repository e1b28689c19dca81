"""Forms of the sign-in, the account page, sudo mode and the members pages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import authenticate, password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest

from accounts import signin, twofactor
from accounts.models import Invitation, Membership, Organization, Role, User

CODE_WIDGET = forms.TextInput(
    attrs={
        "autocomplete": "one-time-code",
        "inputmode": "text",
        "spellcheck": "false",
        "autocapitalize": "off",
        "placeholder": "123456",
    }
)


class SignInForm(AuthenticationForm):
    """Email and password. Before the password is checked: the slowing of a much-guessed
    account (django-axes' locks are applied by its authentication backend)."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email and password don't match. Check them and try again.",
    }

    def clean(self) -> dict[str, Any]:
        email = signin.attempted_email(self.request, {"username": self.data.get("username")})
        if email and not signin.known_browser(self.request, email):
            pace = signin.account_pace(email)
            if pace.slowed:
                raise forms.ValidationError(signin.slowed_message(pace.wait_seconds))
        self.cleaned_data["username"] = email
        return super().clean()


class TwoFactorForm(forms.Form):
    code = forms.CharField(
        label="Authentication code",
        max_length=20,
        widget=CODE_WIDGET,
        help_text="The 6-digit code from your authenticator app, or one of your recovery codes.",
    )

    def __init__(self, user: User, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.device: Any = None

    def clean_code(self) -> str:
        code = self.cleaned_data["code"]
        self.device = twofactor.verify_code(self.user, code)
        if self.device is None:
            raise forms.ValidationError(twofactor.wrong_code_message(self.user))
        return code


class EnrolForm(forms.Form):
    code = forms.CharField(
        label="Code from the app",
        max_length=10,
        widget=CODE_WIDGET,
        help_text="Enter the 6-digit code your app shows for A2V2.",
    )


class SudoForm(forms.Form):
    """The password again — and the code, for members with two-factor."""

    sudo_password = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    sudo_code = forms.CharField(
        label="Authentication code", required=False, max_length=20, widget=CODE_WIDGET
    )

    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = request
        self.user: User = request.user  # type: ignore[assignment]
        self.needs_code = twofactor.has_two_factor(self.user)
        if self.needs_code:
            self.fields["sudo_code"].required = True
            self.fields["sudo_code"].help_text = "From your authenticator app, or a recovery code."
        else:
            del self.fields["sudo_code"]

    def clean(self) -> dict[str, Any]:
        password = self.cleaned_data.get("sudo_password")
        if password is None:
            return self.cleaned_data
        # Through authenticate(), so django-axes counts a wrong password here as at sign-in.
        user = authenticate(
            self.request, username=self.user.email, password=password, purpose="sudo"
        )
        if getattr(self.request, "axes_locked_out", False):
            raise forms.ValidationError(signin.lockout_message())
        if user is None or user.pk != self.user.pk:
            self.add_error("sudo_password", "That password isn't right.")
        elif self.needs_code and not self.code_is_right():
            self.add_error("sudo_code", twofactor.wrong_code_message(self.user))
        return self.cleaned_data

    def code_is_right(self) -> bool:
        code = self.cleaned_data.get("sudo_code")
        return bool(code) and twofactor.verify_code(self.user, code) is not None


# ---- members ------------------------------------------------------------------------------


def role_choices(roles: tuple[Role, ...]) -> list[tuple[str, str]]:
    return [(role.value, role.label) for role in roles]


class InviteForm(forms.Form):
    email = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autocomplete": "off"}), max_length=254
    )
    role = forms.ChoiceField(
        label="Role",
        choices=role_choices(Invitation.INVITABLE_ROLES),
        initial=Role.USER.value,
        widget=forms.RadioSelect,
    )

    def __init__(self, organization: Organization, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organization = organization

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if Membership.objects.filter(organization=self.organization, user__email=email).exists():
            raise forms.ValidationError(f"{email} is already a member of {self.organization}.")
        return email


class RoleForm(forms.Form):
    role = forms.ChoiceField(
        label="Role", choices=role_choices((Role.ADMIN, Role.USER)), widget=forms.RadioSelect
    )


class TransferForm(forms.Form):
    confirm = forms.BooleanField(
        label="I understand that I will become an Admin and can't undo this myself.",
        error_messages={"required": "Tick the box to confirm the transfer."},
    )


class RequireTwoFactorForm(forms.ModelForm):
    class Meta:
        model = Organization
        fields = ["require_two_factor"]


class AgentForm(forms.Form):
    name = forms.CharField(
        label="Name",
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "e.g. Support bot"}),
        help_text="Up to 100 characters.",
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Enter a name.")
        return name


class JoinForm(forms.Form):
    """A new account from an invitation: a name and a password that passes the validators."""

    name = forms.CharField(
        label="Your name",
        max_length=150,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label="Confirm password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, email: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.email = email

    def clean(self) -> dict[str, Any]:
        password1 = self.cleaned_data.get("password1")
        password2 = self.cleaned_data.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", "The two passwords don't match.")
        elif password1:
            candidate = User(email=self.email, first_name=self.cleaned_data.get("name", ""))
            try:
                password_validation.validate_password(password1, candidate)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return self.cleaned_data

    def create_user(self) -> User:
        user = User.objects.create_user(self.email, self.cleaned_data["password1"])
        first, _, last = self.cleaned_data.get("name", "").strip().partition(" ")
        if first:
            user.first_name, user.last_name = first[:150], last[:150]
            user.save(update_fields=["first_name", "last_name"])
        return user
