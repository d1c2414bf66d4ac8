"""SQLAlchemy 2 models: the schema Alembic migrations create (a test keeps the two in step)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

PIPELINE_STEPS = ("scaffold", "build", "deploy", "verify", "publish")
PROJECT_STATUSES = (
    "queued", *PIPELINE_STEPS, "awaiting_approval", "published", "rejected", "failed", "cancelled",
)
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "dead", "cancelled")
RUN_STATUSES = ("running", "succeeded", "failed", "lost", "released")
OPS_STATUSES = (
    "proposed", "diffed", "patched", "tested", "pr_opened", "awaiting_approval", "approved",
    "canary", "promoted", "rolled_back", "rejected", "failed",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _now() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSONB, list[Any]: JSONB}


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (
        CheckConstraint(_in("status", PROJECT_STATUSES), name="status"),
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress"),
        Index("ix_projects_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    type: Mapped[str] = mapped_column(String(50), server_default="web-app")
    template_ref: Mapped[str] = mapped_column(String(200))
    spec: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    status: Mapped[str] = mapped_column(String(30), server_default="queued")
    stage: Mapped[str | None] = mapped_column(String(30))
    progress: Mapped[float] = mapped_column(Float, server_default="0")
    requires_approval: Mapped[bool] = mapped_column(Boolean, server_default="false")
    approval_timeout_seconds: Mapped[int] = mapped_column(Integer, server_default="7200")
    awaiting_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    output_dir: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    # Money is integer minor units (cents) with its ISO currency: never floats.
    price_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), server_default="USD")
    last_error: Mapped[str | None] = mapped_column(Text)
    # Which build the pipeline is on: 1, then one more per rebuild with an edited spec (0011).
    build: Mapped[int] = mapped_column(Integer, server_default="1")
    # Problems verify noticed that did not fail it; Jason rejects flagged output.
    flags: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    # Where the deploy step puts the output (worker/deploy): local, folder, github-pages,
    # render; its options (web root, URLs, repository, a hook's variable name), never a token.
    deploy_target: Mapped[str] = mapped_column(String(30), server_default="local")
    deploy_config: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    jobs: Mapped[list[Job]] = relationship(back_populates="project", passive_deletes=True)
    artifacts: Mapped[list[Artifact]] = relationship(passive_deletes=True)


class PlanItem(Base):
    """The project's plan as a tree: feature -> milestone -> goal; goals are ticked by steps."""

    __tablename__ = "plan_items"
    __table_args__ = (
        CheckConstraint("kind IN ('feature', 'milestone', 'goal')", name="kind"),
        Index("ix_plan_items_project_id", "project_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("plan_items.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer, server_default="0")
    # The pipeline step whose success ticks this goal off (goals only).
    step: Mapped[str | None] = mapped_column(String(30))
    done: Mapped[bool] = mapped_column(Boolean, server_default="false")
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    parent: Mapped[PlanItem | None] = relationship(remote_side=[id])


class OpsChange(Base):
    """A proposed self-edit moving through diff -> patch -> test -> PR -> canary -> promote."""

    __tablename__ = "ops_changes"
    __table_args__ = (CheckConstraint(_in("status", OPS_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, server_default="")
    patches: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    diff: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(30), server_default="proposed")
    backend: Mapped[str] = mapped_column(String(20), server_default="local")
    base_ref: Mapped[str | None] = mapped_column(String(200))
    base_sha: Mapped[str | None] = mapped_column(String(64))
    branch: Mapped[str | None] = mapped_column(String(200))
    head_sha: Mapped[str | None] = mapped_column(String(64))
    pr_number: Mapped[int | None] = mapped_column(Integer)
    pr_url: Mapped[str | None] = mapped_column(Text)
    test_command: Mapped[str | None] = mapped_column(Text)
    test_passed: Mapped[bool | None] = mapped_column(Boolean)
    test_summary: Mapped[str | None] = mapped_column(Text)
    canary_url: Mapped[str | None] = mapped_column(Text)
    canary_probes: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    reason: Mapped[str | None] = mapped_column(Text)
    # Who proposed it: "api:ops-token", "user:alice" (0003).
    proposed_by: Mapped[str] = mapped_column(String(200), server_default="")
    # A change a model drafted on request (0006): the request (None: a person's patches), the
    # model, the tokens of its drafts (ai_calls ledger) and how many drafts it took.
    ask: Mapped[str | None] = mapped_column(Text)
    ai_model: Mapped[str | None] = mapped_column(String(200))
    ai_tokens: Mapped[int] = mapped_column(Integer, server_default="0")
    ai_drafts: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class Approval(Base):
    """A decision on a project's output (or an ops change): who, what, why, when."""

    __tablename__ = "approvals"
    __table_args__ = (
        CheckConstraint("decision IN ('approved', 'rejected')", name="decision"),
        CheckConstraint("decided_by IN ('person', 'api', 'jason')", name="decided_by"),
        CheckConstraint("(project_id IS NULL) <> (ops_change_id IS NULL)", name="one_subject"),
        Index("ix_approvals_project_id", "project_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    ops_change_id: Mapped[int | None] = mapped_column(
        ForeignKey("ops_changes.id", ondelete="CASCADE")
    )
    decided_by: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200), server_default="")
    # Who really decided: "api:approver-token", "user:alice", "jason (timeout)" (0003).
    principal: Mapped[str] = mapped_column(String(200), server_default="")
    decision: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str] = mapped_column(Text, server_default="")
    created_at: Mapped[datetime] = _now()


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(_in("status", JOB_STATUSES), name="status"),
        CheckConstraint("attempts >= 0 AND max_attempts >= 1", name="attempts"),
        # The claim query walks this index: only queued rows, in priority then due order.
        Index(
            "ix_jobs_claimable", text("priority DESC"), "run_at", "id",
            postgresql_where=text("status = 'queued'"),
        ),
        Index("ix_jobs_lease", "locked_until", postgresql_where=text("status = 'running'")),
        # Partial: plain jobs (no project, ops change or dedupe key) skip these indexes on
        # every claim and completion.
        Index("ix_jobs_project_id", "project_id", postgresql_where=text("project_id IS NOT NULL")),
        Index("ix_jobs_ops_change_id", "ops_change_id",
              postgresql_where=text("ops_change_id IS NOT NULL")),
        # Dead jobs for the alert check (0011): recent ones, without reading every job.
        Index("ix_jobs_dead", "finished_at", postgresql_where=text("status = 'dead'")),
        # One live job per dedupe key; finished jobs free the key.
        Index(
            "uq_jobs_dedupe_key_live", "dedupe_key", unique=True,
            postgresql_where=text("status IN ('queued', 'running') AND dedupe_key IS NOT NULL"),
        ),
        # The Jobs view's dead/cancelled filters (0010): only jobs that went wrong enter these,
        # so the hot path (claim, complete) never writes them.
        Index("ix_jobs_went_wrong_id", "id",
              postgresql_where=text("status IN ('dead', 'failed', 'cancelled')")),
        Index("ix_jobs_went_wrong_kind_id", "kind", "id",
              postgresql_where=text("status IN ('dead', 'failed', 'cancelled')")),
        # The Jobs view's sort by Updated (0012): finished jobs only, so a job enters it once,
        # when it finishes (enqueues and claims never write it).
        Index("ix_jobs_finished_updated", "updated_at", "id",
              postgresql_where=text("status NOT IN ('queued', 'running')")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    ops_change_id: Mapped[int | None] = mapped_column(
        ForeignKey("ops_changes.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(String(50))
    payload: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    status: Mapped[str] = mapped_column(String(20), server_default="queued")
    priority: Mapped[int] = mapped_column(Integer, server_default="0")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    max_attempts: Mapped[int] = mapped_column(Integer, server_default="3")
    run_at: Mapped[datetime] = _now()
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    dedupe_key: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    project: Mapped[Project | None] = relationship(back_populates="jobs")
    runs: Mapped[list[Run]] = relationship(
        primaryjoin="Job.id == foreign(Run.job_id)", passive_deletes=True, order_by="Run.id"
    )


class Run(Base):
    """One attempt of a job."""

    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint(_in("status", RUN_STATUSES), name="status"),
        Index("ix_runs_job_id", "job_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # No foreign key: only the claim statement writes runs, for the job rows it has just
    # locked, and a key check per run cost a fifth of every claim. A trigger on jobs deletes
    # a job's runs with it (migration 0002).
    job_id: Mapped[int] = mapped_column(BigInteger)
    worker_id: Mapped[str] = mapped_column(String(100))
    attempt: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), server_default="running")
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = _now()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[float | None] = mapped_column(Float)


class Artifact(Base):
    """A file or URL a run produced. Re-running a step replaces its artifact (same name) within
    the build; a rebuild (0011) starts a new build and the earlier builds' artifacts stay."""

    __tablename__ = "artifacts"
    __table_args__ = (
        UniqueConstraint("project_id", "build", "kind", "name",
                         name="uq_artifacts_project_build_kind_name"),
        Index("ix_artifacts_ops_change_id", "ops_change_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    ops_change_id: Mapped[int | None] = mapped_column(
        ForeignKey("ops_changes.id", ondelete="CASCADE")
    )
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    step: Mapped[str | None] = mapped_column(String(50))
    kind: Mapped[str] = mapped_column(String(30))  # file | site | archive | url | report
    name: Mapped[str] = mapped_column(Text)
    path: Mapped[str | None] = mapped_column(Text)
    uri: Mapped[str | None] = mapped_column(Text)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    build: Mapped[int] = mapped_column(Integer, server_default="1")
    created_at: Mapped[datetime] = _now()


class LogEntry(Base):
    __tablename__ = "log_entries"
    __table_args__ = (
        Index("ix_log_entries_project_id_id", "project_id", "id"),
        Index("ix_log_entries_job_id", "job_id"),
        Index("ix_log_entries_level_id", "level", "id"),
        Index("ix_log_entries_ts", "ts"),
        # Text search (ILIKE '%x%'); created only where PostgreSQL has pg_trgm (migration 0008:
        # the embedded server lacks it, and there the search scans).
        Index("ix_log_entries_message_trgm", "message", postgresql_using="gin",
              postgresql_ops={"message": "gin_trgm_ops"}, info={"needs_extension": "pg_trgm"}),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ts: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.clock_timestamp()
    )
    level: Mapped[str] = mapped_column(String(10))
    logger: Mapped[str] = mapped_column(String(100), server_default="titan")
    message: Mapped[str] = mapped_column(Text)
    project_id: Mapped[int | None] = mapped_column(BigInteger)
    job_id: Mapped[int | None] = mapped_column(BigInteger)
    run_id: Mapped[int | None] = mapped_column(BigInteger)
    worker_id: Mapped[str | None] = mapped_column(String(100))
    extra: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))


class WorkerRow(Base):
    __tablename__ = "workers"
    __table_args__ = (
        CheckConstraint(
            "status IN ('running', 'paused', 'stopping', 'stopped', 'lost')", name="status"
        ),
        CheckConstraint(
            "command IS NULL OR command IN ('pause', 'resume', 'stop')", name="command"
        ),
    )

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(50))
    concurrency: Mapped[int] = mapped_column(Integer, server_default="1")
    status: Mapped[str] = mapped_column(String(20), server_default="running")
    # Set by the desktop (or anyone) to steer a worker it may not have spawned.
    command: Mapped[str | None] = mapped_column(String(20))
    started_at: Mapped[datetime] = _now()
    last_heartbeat: Mapped[datetime] = _now()
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    jobs_succeeded: Mapped[int] = mapped_column(BigInteger, server_default="0")
    jobs_failed: Mapped[int] = mapped_column(BigInteger, server_default="0")


class JobStat(Base):
    """Finished runs per (minute, kind, outcome), summed over ``shard`` (migration 0007).

    A trigger on ``runs`` adds to it in the statement that finishes runs; ``shard`` spreads
    concurrent workers over different rows so they never wait on each other's commit."""

    __tablename__ = "job_stats"
    __table_args__ = (
        PrimaryKeyConstraint("bucket", "kind", "outcome", "shard"),
        CheckConstraint("outcome IN ('succeeded', 'failed')", name="outcome"),
    )

    bucket: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(50))
    outcome: Mapped[str] = mapped_column(String(10))
    shard: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    count: Mapped[int] = mapped_column(BigInteger, server_default="0")


class QueueSample(Base):
    """The queue once a minute (written by worker heartbeats): depth and oldest runnable age."""

    __tablename__ = "queue_samples"

    bucket: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    runnable: Mapped[int] = mapped_column(BigInteger)
    scheduled: Mapped[int] = mapped_column(BigInteger)
    running: Mapped[int] = mapped_column(BigInteger)
    oldest_runnable_seconds: Mapped[float | None] = mapped_column(Float)


class Order(Base):
    """A sale of a published project. Amounts are integer minor units in ``currency``."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("status IN ('paid', 'refunded', 'pending')", name="status"),
        CheckConstraint("amount_minor >= 0", name="amount"),
        UniqueConstraint("source", "external_id", name="uq_orders_source_external_id"),
        Index("ix_orders_created_at", "created_at"),
        Index("ix_orders_project_id", "project_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"))
    customer_name: Mapped[str] = mapped_column(String(200), server_default="")
    customer_email: Mapped[str] = mapped_column(String(320), server_default="")
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20), server_default="paid")
    source: Mapped[str] = mapped_column(String(30), server_default="manual")
    external_id: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, server_default="")
    created_at: Mapped[datetime] = _now()


class AICall(Base):
    """One call to the AI endpoint (the ledger): who asked, what it cost, how it went.

    ``endpoint`` is the base URL with any credentials removed; the key is never stored.
    """

    __tablename__ = "ai_calls"
    __table_args__ = (
        Index("ix_ai_calls_project_id", "project_id",
              postgresql_where=text("project_id IS NOT NULL")),
        Index("ix_ai_calls_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="SET NULL"))
    job_id: Mapped[int | None] = mapped_column(BigInteger)
    purpose: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(200))
    endpoint: Mapped[str] = mapped_column(Text)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    time_to_first_token_ms: Mapped[float | None] = mapped_column(Float)
    total_ms: Mapped[float | None] = mapped_column(Float)
    cost: Mapped[Decimal | None] = mapped_column(Numeric(14, 6))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()


class AIRound(Base):
    """One round of the repair loop (issue 18): the model's edits, the check that judged them.

    ``loop_id`` groups the rounds of one run of the loop; ``diff`` is the unified diff the
    round's edits made to the workspace; ``check_output`` is the tail of the check's output;
    ``refusals`` lists the edits that were refused
    (``[{"path", "reason"}]``, nothing was written for them); ``tokens`` are the prompt and
    completion tokens of the round's calls (their rows are in ``ai_calls``).
    """

    __tablename__ = "ai_rounds"
    __table_args__ = (
        Index("ix_ai_rounds_project_id", "project_id",
              postgresql_where=text("project_id IS NOT NULL")),
        Index("ix_ai_rounds_loop_id", "loop_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"))
    job_id: Mapped[int | None] = mapped_column(BigInteger)
    loop_id: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(100))
    round: Mapped[int] = mapped_column(Integer)
    max_rounds: Mapped[int] = mapped_column(Integer)
    diff: Mapped[str] = mapped_column(Text, server_default="")
    check_summary: Mapped[str] = mapped_column(Text)
    check_exit_code: Mapped[int | None] = mapped_column(Integer)
    check_output: Mapped[str] = mapped_column(Text, server_default="")  # its tail
    passed: Mapped[bool] = mapped_column(Boolean)
    tokens: Mapped[int] = mapped_column(Integer, server_default="0")
    refusals: Mapped[list[Any]] = mapped_column(server_default=text("'[]'::jsonb"))
    created_at: Mapped[datetime] = _now()


ALERT_STATUSES = ("pending", "sent", "failed", "recorded")


class Alert(Base):
    """An alert Titan raised once (worker.services.alerts): a dead job, an approval waiting too
    long, a worker that stopped heart-beating, a failed backup.

    ``key`` names the occurrence (``job.dead:42``); inserting it is the claim that keeps several
    workers from raising it twice. ``status`` is its webhook delivery (``recorded``: none set).
    """

    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint(_in("status", ALERT_STATUSES), name="status"),
        UniqueConstraint("key", name="uq_alerts_key"),
        Index("ix_alerts_pending", "claimed_at", postgresql_where=text("status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    key: Mapped[str] = mapped_column(String(300))
    event: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)
    project_id: Mapped[int | None] = mapped_column(BigInteger)
    details: Mapped[dict[str, Any]] = mapped_column(server_default=text("'{}'::jsonb"))
    status: Mapped[str] = mapped_column(String(20), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    # When a worker took on its delivery; a pending alert claimed long ago is sent again.
    claimed_at: Mapped[datetime] = _now()
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
