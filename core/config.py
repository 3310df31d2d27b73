"""All settings in one place: env ROLLCALL_*, then .streamlit/secrets.toml, then defaults."""

from __future__ import annotations

import functools
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr
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
    # Firestore back-end: a project, a collection prefix (several deployments can share a project),
    # and a service-account JSON file (not needed with FIRESTORE_EMULATOR_HOST set).
    event_log_busy_timeout_seconds: float = 30.0  # local log: a write waits this long for another process's lock
    firestore_project_id: str = "demo-rollcall"
    firestore_prefix: str = "rollcall"
    firestore_credentials: Path | None = None
    # Event ordering (core/eventlog/firestore.py): how many key ranges the commit-time index is spread over
    # (raise it, never lower it: readers query shards 0..n-1), how long after its server timestamp an event
    # waits before readers deliver it (must exceed the request-to-commit time of any append), and how long an
    # append keeps retrying transient errors before it raises EventLogUnavailable.
    firestore_shards: int = Field(4, ge=1, le=64)
    firestore_settle_ms: int = Field(1000, ge=0)  # bench/firestore.py: request-to-commit took up to 560 ms
    firestore_append_budget_seconds: float = Field(20.0, gt=0)
    ingest_poll_seconds: float = 0.2
    ingest_batch_size: int = 1000
    # The ingestor commits at least this often while it folds: a staff action waits at most this long for it.
    ingest_max_transaction_seconds: float = 0.25
    outbox_retry_seconds: float = 2.0  # how often events kept while the store was down are appended again
    view_link_days: int = Field(3, ge=0)  # a big-screen link works until this many days after it was issued
    page_fold_seconds: float = 1.0  # a page showing device traffic folds the backlog for at most this long first

    # Device receiver (receiver/app.py)
    receiver_host: str = "127.0.0.1"
    receiver_port: int = 8502
    signature_window_seconds: int = 300  # a signed request older or newer than this is refused
    max_event_body_bytes: int = 256_000
    max_frame_bytes: int = 700_000  # an ESP32-CAM SVGA JPEG is 30–150 kB
    max_events_per_batch: int = 100
    device_rate_per_second: float = 20.0  # requests per device; bursts up to twice this
    device_clock_skew_hours: int = 24  # event times further from the server's clock are refused
    # Admission across all devices (per receiver replica), in events a second; bursts up to twice this.
    # A frame counts as one event per `receiver_frame_bytes_per_event` bytes of JPEG (at least one).
    receiver_max_events_per_second: float = Field(2000.0, gt=0)
    receiver_frame_bytes_per_event: int = Field(65_536, ge=1)
    receiver_store_timeout_seconds: float = Field(10.0, gt=0)  # a slower event-log call answers 503
    receiver_store_threads: int = Field(16, ge=1)  # worker threads for event-log calls
    # uvicorn (receiver.app.uvicorn_args): idle keep-alive close, 503 beyond this many connections, header size
    receiver_keep_alive_seconds: int = Field(5, ge=1)
    receiver_limit_concurrency: int = Field(512, ge=1)
    receiver_max_header_bytes: int = Field(16_384, ge=1024)

    # Sign-in
    session_timeout_minutes: int = 30
    # A refresh or a new tab stays signed in by a signed cookie (core/session_tokens.py): it lapses after
    # `session_timeout_minutes` unused, and at most this long after sign-in.
    session_max_hours: int = Field(12, ge=1, le=24 * 30)
    lockout_attempts: int = 5
    lockout_minutes: int = 15
    min_password_length: int = 10
    # Each Argon2 check takes ~64 MiB and ~0.2 s of a core: at most this many run at once in the process; a
    # sign-in that waits longer than `signin_busy_wait_seconds` for a turn is answered "busy, try again".
    max_concurrent_password_checks: int = Field(4, ge=1)
    signin_busy_wait_seconds: float = Field(10.0, gt=0)
    # Per source (client address; the browser session when there is none): failed sign-ins at once, then one
    # more every `signin_source_refill_seconds`. One source then fails 3 times per 15 minutes, fewer than the
    # `lockout_attempts` it takes to lock an account again once a lock has ended.
    signin_source_burst: int = Field(5, ge=1)
    signin_source_refill_seconds: float = Field(300.0, gt=0)
    # Behind a reverse proxy every client comes from the proxy: name the header it sets to the client's address
    # (e.g. "X-Real-IP"; of "X-Forwarded-For" the last address is taken). Only with a proxy that sets it.
    signin_client_ip_header: str | None = None

    # Sessions: the late threshold a new schedule starts with, and how far one "Create sessions" may reach
    default_late_after_min: int = 10
    max_session_days: int = 366

    # Uploads
    max_roster_bytes: int = 10_000_000
    max_roster_rows: int = 50_000
    max_image_bytes: int = 15_000_000
    max_image_pixels: int = 40_000_000  # a 40-megapixel photo; larger ones are refused before decoding

    # Faces. DeepFace reads weights from <deepface_home>/.deepface/weights (seeded offline by `make`).
    deepface_home: Path = Path(".models")
    weights_cache: Path = Path(".models/packages")
    face_detector: str = "yunet"
    face_model: str = "SFace"
    yunet_score_threshold: float = 0.7  # YuNet's own default 0.9 misses real faces
    # Cosine similarity of aligned SFace embeddings; calibrated by bench/accuracy.py (see README): at 0.45 six
    # of 224 stranger faces were accepted with 109 people enrolled (look-alikes at 0.46-0.50); at 0.50 none, and
    # 218 of 219 genuine probes (degraded ones included) still pass.
    match_threshold: float = 0.50
    match_margin: float = 0.08  # the best person must beat the runner-up by this much
    lookalike_threshold: float = 0.45  # warn at enrollment when someone else is this close
    # Per-person thresholds (open-set): a person's threshold is raised to the closest impostor score against
    # their templates (another enrolled person, a "not this person" mark) plus this margin, never below
    # match_threshold and never above person_threshold_max. Calibrated by bench/accuracy.py (see README).
    person_thresholds: bool = True
    person_threshold_margin: float = 0.10
    person_threshold_max: float = 0.60
    # Quality gates for enrollment photos
    min_face_px: int = 80
    min_sharpness: float = 40.0  # variance of the Laplacian on the aligned face
    min_brightness: float = 50.0
    max_brightness: float = 210.0
    max_yaw_degrees: float = 30.0
    keep_photos: bool = False  # enrollment photos are not kept unless an admin turns this on

    # Privacy (core/privacy.py; the Privacy page states these as the written policy). Days; 0 = keep.
    # Face templates live while consent stands and the face is in use: revoking consent removes them at once,
    # and a person not recognised for `retention_template_idle_days` (since enrollment or their last face
    # check-in) has them removed — a student who left stops being seen, and a year is well inside BIPA's
    # "purpose satisfied or 3 years after the last interaction".
    retention_frame_days: int = Field(30, ge=0)  # ESP32-CAM images in the event log (their metadata stays)
    retention_crop_days: int = Field(90, ge=0)  # the face crop kept with each check-in, as evidence
    retention_template_idle_days: int = Field(365, ge=0)
    retention_attendance_days: int = Field(1826, ge=0)  # 5 years of attendance records (by session start)
    retention_check_minutes: float = Field(60, gt=0)  # how often the app purges what expired
    erasure_keeps_attendance: bool = True  # erasing a person keeps their attendance under a pseudonym

    # Headless browser that draws chart images for PDF reports (kaleido); without it the PDF has no charts.
    chromium_path: Path | None = Path("/usr/bin/chromium")

    # Encryption of biometric data: a master key from secrets, else generated into the data folder.
    master_key: str | None = None

    # Unknown-face alerts to a Telegram chat (core/alerts.py); off unless both the bot token and the chat id
    # are set. The face image leaves this machine for Telegram's servers.
    telegram_bot_token: SecretStr | None = None
    telegram_chat_id: str | None = None
    telegram_api_base: str = "https://api.telegram.org"
    alert_max_per_minute: int = Field(6, ge=1)
    alert_timeout_seconds: float = Field(5.0, gt=0)
    # Families' channel (core/alerts.py: FamilyMessages): "approaching the stage" / "on stage now" with the
    # graduate's name, through the same bot. Off unless switched on AND a channel is given: every member of the
    # channel sees the names of graduates as they are called.
    family_messages: bool = False
    family_chat_id: str | None = None
    family_max_per_minute: int = Field(20, ge=1)  # Telegram allows about 20 messages a minute into one group
    family_fresh_seconds: float = Field(120, gt=0)  # a call older than this is not announced (after a restart)
    # Live check-in over WebRTC: no STUN by default (the browser and the app are on one machine or network).
    # For cameras on other networks add a TURN server, e.g. [{"urls": ["turn:turn.example.org:3478"],
    # "username": "...", "credential": "..."}] (env: ROLLCALL_WEBRTC_ICE_SERVERS as JSON).
    webrtc_ice_servers: list[dict] = []
    checkin_votes_k: int = Field(3, ge=1)  # a track is decided when k of its last n recognitions agree
    checkin_votes_n: int = Field(5, ge=1)
    # One recognition this far above the person's threshold, and this far ahead of anyone else, decides a track at
    # once: the votes are for borderline frames (no stranger scores above 0.50, bench/accuracy.py). None: votes only.
    checkin_sure_margin: float | None = Field(0.15, ge=0)
    # Below this many processed frames a second (while the processor is busy all the time) the check-in page says
    # the box is overloaded. Detection runs on a smaller copy of the frame while the faces in view are large.
    checkin_min_fps: float = Field(15, gt=0)
    checkin_scaled_detection: bool = True

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
    def deepface_path(self) -> Path:
        return self.deepface_home if self.deepface_home.is_absolute() else PROJECT_ROOT / self.deepface_home

    @property
    def weights_path(self) -> Path:
        return self.deepface_path / ".deepface" / "weights"

    @property
    def weights_cache_path(self) -> Path:
        return self.weights_cache if self.weights_cache.is_absolute() else PROJECT_ROOT / self.weights_cache

    @property
    def alerts_enabled(self) -> bool:
        token = self.telegram_bot_token.get_secret_value() if self.telegram_bot_token else ""
        return bool(token.strip() and (self.telegram_chat_id or "").strip())

    @property
    def family_messages_enabled(self) -> bool:
        token = self.telegram_bot_token.get_secret_value() if self.telegram_bot_token else ""
        return bool(self.family_messages and token.strip() and (self.family_chat_id or "").strip())

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
