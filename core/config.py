"""All settings in one place: env ROLLCALL_*, then .streamlit/secrets.toml, then defaults."""

from __future__ import annotations

import functools
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SECRETS_FILE = PROJECT_ROOT / ".streamlit" / "secrets.toml"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ROLLCALL_", extra="ignore", toml_file=SECRETS_FILE)

    # Where all state lives (DuckDB file, event log, keys). Relative paths are taken from the project root.
    data_dir: Path = Path("data")
    timezone: str = "Asia/Bangkok"

    # Processes
    app_host: str = "127.0.0.1"
    app_port: int = 8501
    event_log_backend: str = Field("local", pattern="^(local|firestore)$")
    ingest_poll_seconds: float = 0.5

    # Sign-in
    session_timeout_minutes: int = 30
    lockout_attempts: int = 5
    lockout_minutes: int = 15
    min_password_length: int = 10

    # Uploads
    max_roster_bytes: int = 10_000_000
    max_roster_rows: int = 50_000

    @property
    def data_path(self) -> Path:
        path = self.data_dir if self.data_dir.is_absolute() else PROJECT_ROOT / self.data_dir
        return path

    @property
    def duckdb_path(self) -> Path:
        return self.data_path / "rollcall.duckdb"

    @property
    def events_path(self) -> Path:
        return self.data_path / "events.sqlite"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # secrets.toml may hold other apps' keys too; only our field names are read from it.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


@functools.cache
def get_settings() -> Settings:
    return Settings()
