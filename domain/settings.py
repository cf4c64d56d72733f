"""Configuration from ``LENDGRAPH_*`` environment variables, validated once at start."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")


class ConfigurationError(Exception):
    """Raised with one readable line per bad setting."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LENDGRAPH_", extra="ignore", frozen=True)

    env: Literal["development", "production"] = "development"
    database_url: str = "sqlite+aiosqlite:///./lendgraph.db"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Until identity lands, anonymous development requests may read every row.
    # Refused in production; the identity issue replaces it with real viewers.
    dev_open_access: bool | None = None
    page_size_max: int = Field(default=100, ge=1, le=1000)
    max_query_depth: int = Field(default=12, ge=2, le=50)
    max_aliases: int = Field(default=30, ge=1, le=1000)
    max_tokens: int = Field(default=5000, ge=100, le=100_000)
    db_pool_size: int = Field(default=10, ge=1, le=200)

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        driver = value.split("://", 1)[0]
        if "://" not in value or driver not in SUPPORTED_DRIVERS:
            raise ValueError(
                f"must start with one of {', '.join(d + '://' for d in SUPPORTED_DRIVERS)}"
            )
        return value

    @model_validator(mode="after")
    def _open_access_only_in_development(self) -> Settings:
        if self.dev_open_access and self.env == "production":
            raise ValueError("LENDGRAPH_DEV_OPEN_ACCESS cannot be enabled in production")
        return self

    @property
    def is_development(self) -> bool:
        return self.env == "development"

    @property
    def open_access(self) -> bool:
        if self.dev_open_access is None:
            return self.is_development
        return self.dev_open_access

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(**overrides: object) -> Settings:
    """Read the environment; raise ConfigurationError naming every bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = "LENDGRAPH_" + "_".join(str(p) for p in err["loc"]).upper()
            if not err["loc"]:
                name = "configuration"
            lines.append(f"{name}: {err['msg']}")
        raise ConfigurationError("\n".join(lines)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
