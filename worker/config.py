"""One typed settings object for every Titan process.

Reads the original spec's environment variable names (DATABASE_URL, OUTPUT_DIR, ...) plus Titan's
own (TITAN_HOME, TITAN_*). Values may also come from ``TITAN_HOME/settings.json`` (written by the
desktop settings dialog); the environment wins over the file. Secrets are ``SecretStr`` so they
never show up in a repr or a log line.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

DEFAULT_ALLOWED_PATHS = [
    # The original spec's defaults ...
    "client/**", "server/**", "worker/**", "Dockerfile", "package.json", "tsconfig.json",
    "vite.config.ts",
    # ... extended with this project's own folders and top-level docs.
    "titan_desktop/**", "templates/**", "resources/**", "tests/**", "bench/**", "docs/**",
    "README.md", "CHANGELOG.md", "pyproject.toml",
]
DEFAULT_PROTECTED_PATHS = [
    "infra/**", "secrets/**", "database/migrations/**", "migrations/**", ".ci/**", ".git/**",
]

PathList = Annotated[list[str], NoDecode]


def default_home() -> Path:
    return Path(platformdirs.user_data_dir("titan", appauthor=False))


def _home_from_env() -> Path:
    raw = os.environ.get("TITAN_HOME")
    return Path(raw).expanduser() if raw else default_home()


def settings_file(home: Path | None = None) -> Path:
    return (home or _home_from_env()) / "settings.json"


class _JsonFileSource(PydanticBaseSettingsSource):
    """Settings saved by the desktop app, keyed by env var name (``{"OUTPUT_DIR": ...}``)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = settings_file()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {k: v for k, v in data.items() if isinstance(k, str) and v not in (None, "")}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    # Where Titan keeps its embedded database, work folders and settings.
    titan_home: Path = Field(default_factory=_home_from_env, validation_alias="TITAN_HOME")
    # Unset: Titan starts an embedded PostgreSQL (pgserver) under TITAN_HOME/pgdata.
    database_url: SecretStr | None = Field(None, validation_alias="DATABASE_URL")
    # Deployed sites and published archives (default TITAN_HOME/projects).
    output_dir: Path | None = Field(None, validation_alias="OUTPUT_DIR")
    # Extra template folder searched before the built-in templates/.
    templates_dir: Path | None = Field(None, validation_alias="TEMPLATES_DIR")

    ops_token: SecretStr | None = Field(None, validation_alias="OPS_TOKEN")
    github_repo: str | None = Field(None, validation_alias="GITHUB_REPO")
    github_token: SecretStr | None = Field(None, validation_alias="GITHUB_TOKEN")
    # Deploy hook URLs embed a key, so they are secrets too.
    render_deploy_hook_api: SecretStr | None = Field(
        None, validation_alias="RENDER_DEPLOY_HOOK_API"
    )
    render_deploy_hook_worker: SecretStr | None = Field(
        None, validation_alias="RENDER_DEPLOY_HOOK_WORKER"
    )
    # The deploy target a new static-site project gets when its creator names none (local,
    # folder, github-pages, render; worker/deploy) and that target's options as comma-separated
    # NAME=VALUE pairs (e.g. "root=/srv/www,url=https://example.org/"). Never a token here.
    deploy_target: str | None = Field(None, validation_alias="TITAN_DEPLOY_TARGET")
    deploy_options: str = Field("", validation_alias="TITAN_DEPLOY_OPTIONS")
    # The ops loop: the git repository Titan edits (default: this checkout, when it is one),
    # the branch changes are based on and merged into (default: the repository's HEAD branch),
    # the test command run on each change, and the canary it starts.
    ops_repo_path: Path | None = Field(None, validation_alias="OPS_REPO_PATH")
    ops_base_branch: str | None = Field(None, validation_alias="OPS_BASE_BRANCH")
    ops_test_command: str = Field("python -m pytest -q -x", validation_alias="OPS_TEST_COMMAND")
    ops_test_timeout_seconds: float = Field(
        1800.0, gt=0, validation_alias="OPS_TEST_TIMEOUT_SECONDS"
    )
    # ``{python}`` and ``{port}`` are filled in; it runs in a worktree of the patched branch.
    ops_canary_command: str = Field(
        "{python} -m worker.cli api --host 127.0.0.1 --port {port}",
        validation_alias="OPS_CANARY_COMMAND",
    )
    # With Render deploy hooks configured, the canary's health URL to poll.
    ops_canary_health_url: str | None = Field(None, validation_alias="OPS_CANARY_HEALTH_URL")
    ops_canary_timeout_seconds: float = Field(
        60.0, gt=0, validation_alias="OPS_CANARY_TIMEOUT_SECONDS"
    )
    # GitHub Enterprise (or a test server) lives elsewhere than api.github.com.
    github_api_url: str = Field("https://api.github.com", validation_alias="GITHUB_API_URL")
    # The REST API's bearer token. Set: every /api request and /metrics need it, and the API
    # may bind beyond loopback. Unset: loopback only, no token asked. Then the sales sources.
    api_token: SecretStr | None = Field(None, validation_alias="TITAN_API_TOKEN")
    stripe_api_key: SecretStr | None = Field(None, validation_alias="STRIPE_API_KEY")
    stripe_api_base: str = Field("https://api.stripe.com", validation_alias="STRIPE_API_BASE")
    shopify_store: str | None = Field(None, validation_alias="SHOPIFY_STORE")
    shopify_token: SecretStr | None = Field(None, validation_alias="SHOPIFY_TOKEN")
    # Unset: https://SHOPIFY_STORE (".myshopify.com" added to a bare store name).
    shopify_api_base: str | None = Field(None, validation_alias="SHOPIFY_API_BASE")
    allowed_paths: PathList = Field(
        default_factory=lambda: list(DEFAULT_ALLOWED_PATHS), validation_alias="ALLOWED_PATHS"
    )
    protected_paths: PathList = Field(
        default_factory=lambda: list(DEFAULT_PROTECTED_PATHS), validation_alias="PROTECTED_PATHS"
    )

    # The sandbox for proposed and generated code (docs/sandbox.md). TITAN_SANDBOX: auto (bwrap
    # when it works here, else approve-first), bwrap (refuse to run without it) or
    # approve-first (nothing proposed runs before a person approves running it). Limits apply
    # to each run: CPU seconds, address space, processes, one file's size, and the tmpfs size
    # of the writable copy and /tmp.
    sandbox: Literal["auto", "bwrap", "approve-first"] = Field(
        "auto", validation_alias="TITAN_SANDBOX"
    )
    sandbox_cpu_seconds: int = Field(900, ge=1, validation_alias="TITAN_SANDBOX_CPU_SECONDS")
    sandbox_memory_mb: int = Field(2048, ge=64, validation_alias="TITAN_SANDBOX_MEMORY_MB")
    sandbox_processes: int = Field(256, ge=8, validation_alias="TITAN_SANDBOX_PROCESSES")
    sandbox_file_mb: int = Field(256, ge=1, validation_alias="TITAN_SANDBOX_FILE_MB")
    sandbox_disk_mb: int = Field(1024, ge=16, validation_alias="TITAN_SANDBOX_DISK_MB")

    # Queue tuning.
    job_lease_seconds: float = Field(30.0, gt=0, validation_alias="TITAN_JOB_LEASE_SECONDS")
    heartbeat_seconds: float = Field(
        2.0, gt=0, validation_alias=AliasChoices("TITAN_HEARTBEAT_SECONDS")
    )
    poll_interval_seconds: float = Field(0.5, gt=0, validation_alias="TITAN_POLL_SECONDS")
    max_attempts: int = Field(3, ge=1, validation_alias="TITAN_MAX_ATTEMPTS")
    retry_base_seconds: float = Field(2.0, ge=0, validation_alias="TITAN_RETRY_BASE_SECONDS")
    # Projects wait for a person's approval before publishing when this is on.
    require_approval: bool = Field(False, validation_alias="TITAN_REQUIRE_APPROVAL")
    approval_timeout_seconds: int = Field(
        7200, ge=1, validation_alias="TITAN_APPROVAL_TIMEOUT_SECONDS"
    )
    log_level: str = Field("INFO", validation_alias="TITAN_LOG_LEVEL")
    # Jason's voice (issue 20): a voice id as `titan jason voices` lists it ("gmw/en-us"; unset:
    # espeak-ng's default) and words per minute. Settings → Jason's voice has a preview.
    jason_voice: str | None = Field(None, validation_alias="TITAN_JASON_VOICE")
    jason_rate: int = Field(175, ge=80, le=450, validation_alias="TITAN_JASON_RATE")

    # -- security: who may do what through the API (docs/security.md) --
    # OPS_TOKEN proposes ops changes; approving or rejecting them through the API takes this
    # other credential (unset: only a person at the desktop or CLI decides).
    ops_approver_token: SecretStr | None = Field(None, validation_alias="OPS_APPROVER_TOKEN")
    # Host names the API answers besides the loopback names (behind a proxy: its public name).
    api_allowed_hosts: PathList = Field(default_factory=list,
                                        validation_alias="TITAN_API_ALLOWED_HOSTS")
    # AI (issue 17): one OpenAI-compatible chat endpoint (Ollama, llama.cpp, vLLM, a hosted API).
    # JASON_LLM_URL / JASON_LLM_MODEL are older names for the same thing. With no URL, Titan
    # serves the small local model when the ai-local extra is installed (TITAN_AI_LOCAL=0: never).
    ai_url: str | None = Field(
        None, validation_alias=AliasChoices("TITAN_AI_URL", "JASON_LLM_URL"))
    ai_model: str | None = Field(
        None, validation_alias=AliasChoices("TITAN_AI_MODEL", "JASON_LLM_MODEL"))
    ai_key: SecretStr | None = Field(None, validation_alias="TITAN_AI_KEY")
    ai_local: bool = Field(True, validation_alias="TITAN_AI_LOCAL")
    ai_timeout_seconds: float = Field(120.0, gt=0, validation_alias="TITAN_AI_TIMEOUT_SECONDS")
    # Retries on 429 and 5xx, with exponential backoff (Retry-After is honoured).
    ai_max_retries: int = Field(3, ge=0, validation_alias="TITAN_AI_MAX_RETRIES")
    ai_retry_base_seconds: float = Field(
        0.5, ge=0, validation_alias="TITAN_AI_RETRY_BASE_SECONDS")
    # Prompt + completion tokens one project may spend; unset: no limit.
    ai_max_tokens_per_project: int | None = Field(
        None, ge=1, validation_alias="TITAN_AI_MAX_TOKENS_PER_PROJECT")
    # Rounds of the repair loop (issue 18): draft, check in the sandbox, feed the failure back.
    # 1 is one shot (no repair round).
    ai_repair_rounds: int = Field(3, ge=1, le=20, validation_alias="TITAN_AI_REPAIR_ROUNDS")
    # Whether the pipeline has a model write what templates declare (issue 18): auto = only with
    # a configured endpoint (TITAN_AI_URL; the tiny local model writes drafts that rarely pass),
    # on = the local model too, off = never.
    ai_builds: Literal["auto", "on", "off"] = Field("auto", validation_alias="TITAN_AI_BUILDS")
    # Price per million tokens (in your currency); the ledger records a cost when one is set.
    ai_price_per_mtok_in: Decimal | None = Field(
        None, ge=0, validation_alias="TITAN_AI_PRICE_PER_MTOK_IN")
    ai_price_per_mtok_out: Decimal | None = Field(
        None, ge=0, validation_alias="TITAN_AI_PRICE_PER_MTOK_OUT")

    # Alerts (issue 19): a Slack-compatible webhook (its URL holds a key: a secret), how long
    # an approval may wait before it alerts, when a silent worker counts as stopped, and how
    # often a worker looks (worker.services.alerts).
    alert_webhook: SecretStr | None = Field(None, validation_alias="TITAN_ALERT_WEBHOOK")
    alert_approval_minutes: float = Field(
        60.0, gt=0, validation_alias="TITAN_ALERT_APPROVAL_MINUTES")
    alert_worker_stale_seconds: float = Field(
        120.0, gt=0, validation_alias="TITAN_ALERT_WORKER_STALE_SECONDS")
    alert_check_seconds: float = Field(15.0, gt=0, validation_alias="TITAN_ALERT_CHECK_SECONDS")

    # Backups (README: Operations -> Backups). The embedded database is backed up daily into
    # TITAN_HOME/backups (TITAN_BACKUP=false: not automatically); the newest TITAN_BACKUP_KEEP
    # backups there are kept. TITAN_PG_BIN: the folder of pg_dump, pg_restore and psql, when
    # Titan's own choice (pgserver's for the embedded database, the server's version
    # otherwise) will not do.
    backup: bool = Field(True, validation_alias="TITAN_BACKUP")
    backup_keep: int = Field(7, ge=1, le=3650, validation_alias="TITAN_BACKUP_KEEP")
    pg_bin_dir: Path | None = Field(None, validation_alias="TITAN_PG_BIN")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _JsonFileSource(settings_cls)

    @field_validator("api_token", "ops_approver_token", "alert_webhook", mode="before")
    @classmethod
    def _empty_token_is_unset(cls, value: Any) -> Any:
        # ``TITAN_API_TOKEN=`` must not count as a token everybody knows (the empty string).
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("allowed_paths", "protected_paths", "api_allowed_hosts", mode="before")
    @classmethod
    def _split_globs(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("sandbox", mode="before")
    @classmethod
    def _sandbox_mode(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("titan_home", "output_dir", "templates_dir", "ops_repo_path", "pg_bin_dir",
                     mode="after")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser().absolute() if value is not None else None

    @property
    def projects_dir(self) -> Path:
        """Where deployed sites and archives go (OUTPUT_DIR, else TITAN_HOME/projects)."""
        return self.output_dir or self.titan_home / "projects"

    @property
    def work_dir(self) -> Path:
        """Scratch space for scaffolding and building projects."""
        return self.titan_home / "work"

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    def secret_values(self) -> list[str]:
        """Every configured secret, so log output can be scrubbed of them."""
        values = []
        for name in ("database_url", "ops_token", "github_token", "render_deploy_hook_api",
                     "render_deploy_hook_worker", "api_token", "stripe_api_key",
                     "shopify_token", "ops_approver_token", "ai_key", "alert_webhook"):
            secret = getattr(self, name)
            if secret is not None and len(secret.get_secret_value()) >= 4:
                values.append(secret.get_secret_value())
        return values


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reload_settings() -> Settings:
    get_settings.cache_clear()
    return get_settings()
