// After django-otp-webauthn's script adds a passkey, show it in the list.
document.addEventListener("otp_webauthn.register_complete", () => window.location.reload());
