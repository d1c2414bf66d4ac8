"""What every deploy target is: its options, how it checks them, deploys, verifies and tears
down. One module per target implements this; ``worker.deploy`` keeps the registry."""

from __future__ import annotations

import time
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from worker.errors import InvalidInput


@dataclass(frozen=True)
class Option:
    name: str
    help: str
    required: bool = False


@dataclass
class Deployment:
    """What a deploy or a teardown needs to know about the project (no database access)."""

    slug: str
    name: str
    config: dict[str, Any]
    settings: Any
    log: Callable[[str], None] = print


@dataclass
class Teardown:
    """What ``delete`` did to a deployment, in words a person reads."""

    done: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)


class DeployTarget(ABC):
    name: str = ""
    title: str = ""
    options: tuple[Option, ...] = ()
    # How long verify keeps asking the deployed URL: a remote host builds for a while.
    default_verify_timeout: float = 0.0

    def normalize(self, options: dict[str, Any], slug: str) -> dict[str, Any]:
        """The stored config: unknown or missing options are InvalidInput naming the option
        (``deploy_config.root``); targets add their own checks in ``check``."""
        known = {o.name for o in self.options} | {"verify_timeout"}
        for key in options:
            if key not in known:
                raise InvalidInput(f"deployConfig.{key}", f"is not an option of the {self.name} "
                                   f"target (its options: {', '.join(sorted(known))})")
        for key, value in options.items():
            if key != "verify_timeout" and not isinstance(value, str):
                raise InvalidInput(f"deployConfig.{key}", "must be text")
            if any(unicodedata.category(ch) == "Cc" for ch in f"{key}{value}"):
                raise InvalidInput(f"deployConfig.{key}", "must not contain control characters")
        config = {k: v.strip() if isinstance(v, str) else v for k, v in options.items()
                  if v not in (None, "")}
        for option in self.options:
            if option.required and option.name not in config:
                raise InvalidInput(f"deployConfig.{option.name}",
                                   f"the {self.name} target needs it: {option.help}")
        if "verify_timeout" in config:
            try:
                seconds = float(config["verify_timeout"])
            except (TypeError, ValueError):
                raise InvalidInput("deployConfig.verify_timeout",
                                   "must be a number of seconds") from None
            if not 0 <= seconds <= 3600:
                raise InvalidInput("deployConfig.verify_timeout", "must be 0 to 3600 seconds")
            config["verify_timeout"] = seconds
        return self.check(config, slug)

    def check(self, config: dict[str, Any], slug: str) -> dict[str, Any]:
        return config

    @abstractmethod
    def deploy(self, site: Path, deployment: Deployment) -> str:
        """Put the built site (a folder with index.html) online; return its public URL."""

    def verify(self, url: str, deployment: Deployment,
               check: Callable[[str], str]) -> str:
        """Run ``check(url)`` (raises when the page is not right) until it passes or the
        target's verify timeout runs out; a remote host may still be publishing."""
        timeout = float(deployment.config.get("verify_timeout", self.default_verify_timeout))
        deadline = time.monotonic() + timeout
        while True:
            try:
                return check(url)
            except Exception as exc:
                if time.monotonic() >= deadline:
                    raise
                deployment.log(f"{url} is not live yet ({exc}); asking again")
                time.sleep(min(5.0, max(0.2, timeout / 30)))

    def teardown(self, deployment: Deployment) -> Teardown:
        """Take the deployment down where the target allows it."""
        return Teardown()


def check_http_url(value: Any, field_name: str) -> str:
    text = str(value).strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput(f"deployConfig.{field_name}",
                           f"must be an http:// or https:// URL, not {text!r}")
    if parts.username or parts.password:
        raise InvalidInput(f"deployConfig.{field_name}",
                           "must not carry a user name or password (they would be stored)")
    return text if text.endswith("/") else text + "/"
