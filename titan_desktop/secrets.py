"""Tokens in the OS keyring (when there is one), handed to Titan through the environment.

``worker.config.Settings`` reads env vars and settings.json. The desktop keeps secrets out of
settings.json when a keyring is available: it stores them under the service
"titan:<TITAN_HOME>" keyed by the env var name, and on start copies them into its own
environment (the worker it spawns inherits them). Values are never logged.
"""

from __future__ import annotations

import os


def service() -> str:
    """Secrets belong to one Titan installation (its TITAN_HOME), not to the user at large."""
    from worker.config import default_home

    return f"titan:{os.environ.get('TITAN_HOME') or default_home()}"


# Every secret the settings dialog may put in the keyring (every SecretStr setting, by env var):
# what is stored must also be loaded, or a saved token would silently not apply.
SECRET_NAMES = ("DATABASE_URL", "OPS_TOKEN", "GITHUB_TOKEN", "RENDER_DEPLOY_HOOK_API",
                "RENDER_DEPLOY_HOOK_WORKER", "TITAN_API_TOKEN", "STRIPE_API_KEY",
                "SHOPIFY_TOKEN", "OPS_APPROVER_TOKEN", "TITAN_AI_KEY", "TITAN_ALERT_WEBHOOK")


def keyring_available() -> bool:
    """A usable OS keyring; never with TITAN_NO_KEYRING set (tests, headless installs)."""
    if os.environ.get("TITAN_NO_KEYRING"):
        return False
    try:
        import keyring
        from keyring.backends import fail
    except Exception:
        return False
    try:
        backend = keyring.get_keyring()
    except Exception:
        return False
    return not isinstance(backend, fail.Keyring) and getattr(backend, "priority", 0) > 0


def get_secret(name: str) -> str | None:
    if not keyring_available():
        return None
    import keyring

    try:
        return keyring.get_password(service(), name)
    except Exception:
        return None


def set_secret(name: str, value: str | None) -> bool:
    """Store (or with a falsy value, delete) a secret. False when no keyring can hold it."""
    if not keyring_available():
        return False
    import keyring
    from keyring.errors import PasswordDeleteError

    try:
        if value:
            keyring.set_password(service(), name, value)
        else:
            try:
                keyring.delete_password(service(), name)
            except PasswordDeleteError:
                pass
    except Exception:
        return False
    return True


def load_secrets_into_env() -> list[str]:
    """Copy keyring secrets into os.environ where the environment does not set them already."""
    loaded: list[str] = []
    if not keyring_available():
        return loaded
    for name in SECRET_NAMES:
        if os.environ.get(name):
            continue
        value = get_secret(name)
        if value:
            os.environ[name] = value
            loaded.append(name)
    return loaded
