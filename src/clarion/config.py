"""Typed settings read from ``CLARION_*`` environment variables.

One ``Settings`` object is the only place configuration is read, so every command, worker and
API process agrees on where the data lives and what secrets are in force.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "dev"}


class Settings(BaseSettings):
    """Settings for one Clarion installation."""

    model_config = SettingsConfigDict(env_prefix="CLARION_", env_file=None, extra="ignore")

    environment: str = Field("development", description="development, test or production")
    data_dir: Path = Field(Path("clarion-data"), description="where the embedded database lives")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in data_dir")
    secret_key: str = Field("", description="signs links and tokens; required in production")
    default_region: str = Field("US", description="ISO country used when a number has no +prefix")
    default_timezone: str = Field("UTC", description="workspace time zone when none is known")
    db_pool_size: int = 10
    link_base_url: str = Field(
        "http://127.0.0.1:8000/l", description="short-link prefix for workspaces without their own"
    )
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Settings:
        """Refuse to run production with a missing or placeholder secret (fail closed)."""
        if self.secret_key.strip().lower() in PLACEHOLDER_SECRETS:
            if self.environment == "production":
                raise ValueError("CLARION_SECRET_KEY must be set to a real secret in production")
            # Development and tests: a random per-process key, never a shipped constant.
            self.secret_key = secrets.token_urlsafe(32)
        return self

    @property
    def url(self) -> str:
        """Return the database URL in force (SQLite under ``data_dir`` unless one is given)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'clarion.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings (read once)."""
    return Settings()
