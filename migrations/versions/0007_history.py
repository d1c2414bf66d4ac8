"""history: per-minute run outcomes by kind (job_stats) and queue depth samples (queue_samples)

The History view charts succeeded and failed jobs per minute by kind over the last hour and
day. Counting ``runs`` for that gets slower with every run ever made; ``job_stats`` keeps one
row per (minute, kind, outcome, shard) instead, maintained by a statement-level trigger on
``runs``: the statement that finishes a batch of runs adds its counts in the same transaction,
so the figures are exactly the committed runs, whoever finished them (complete, fail, reclaim).

``shard`` is the finishing connection's backend pid modulo 8: two workers finishing runs of the
same kind in the same minute add to different rows, so neither waits for the other's commit.
Readers sum the shards. The upsert takes its rows in key order, so two statements lock them in
the same order and cannot deadlock.

``queue_samples`` holds one row per minute: how many jobs were runnable, scheduled (due later,
retries included) and running, and the age of the oldest runnable job. Worker heartbeats write
it, the first beat of each minute (worker/services/workers.py).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 09:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

SHARDS = 8

COUNT_FINISHED_RUNS = f"""
CREATE FUNCTION titan_count_finished_runs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Runs this transaction finished: every queue statement that ends a run (complete, fail,
    -- reclaim) stamps finished_at = now(), the transaction's time, so a later edit of a
    -- finished run (an older stamp) adds nothing, without the cost of an OLD TABLE to compare.
    -- 'lost' (lease expired) is a failed attempt; 'released' (shutdown) is not an outcome.
    INSERT INTO job_stats AS s (bucket, kind, outcome, shard, count)
    SELECT date_trunc('minute', n.finished_at), j.kind,
           CASE WHEN n.status = 'succeeded' THEN 'succeeded' ELSE 'failed' END,
           pg_backend_pid() % {SHARDS}, count(*)
    FROM new_rows n
    JOIN jobs j ON j.id = n.job_id
    WHERE n.status IN ('succeeded', 'failed', 'lost') AND n.finished_at = now()
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
    ON CONFLICT (bucket, kind, outcome, shard) DO UPDATE SET count = s.count + EXCLUDED.count;
    RETURN NULL;
END $$;
CREATE TRIGGER runs_count_finished AFTER UPDATE ON runs REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION titan_count_finished_runs();
"""


def upgrade() -> None:
    op.create_table(
        'job_stats',
        sa.Column('bucket', sa.DateTime(timezone=True), nullable=False),
        sa.Column('kind', sa.String(length=50), nullable=False),
        sa.Column('outcome', sa.String(length=10), nullable=False),
        sa.Column('shard', sa.SmallInteger(), server_default='0', nullable=False),
        sa.Column('count', sa.BigInteger(), server_default='0', nullable=False),
        sa.CheckConstraint("outcome IN ('succeeded', 'failed')",
                           name=op.f('ck_job_stats_outcome')),
        sa.PrimaryKeyConstraint('bucket', 'kind', 'outcome', 'shard', name=op.f('pk_job_stats')),
    )
    op.create_table(
        'queue_samples',
        sa.Column('bucket', sa.DateTime(timezone=True), nullable=False),
        sa.Column('runnable', sa.BigInteger(), nullable=False),
        sa.Column('scheduled', sa.BigInteger(), nullable=False),
        sa.Column('running', sa.BigInteger(), nullable=False),
        sa.Column('oldest_runnable_seconds', sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint('bucket', name=op.f('pk_queue_samples')),
    )
    op.execute(COUNT_FINISHED_RUNS)
    # Runs finished before this migration: count them once, so the history starts complete.
    op.execute("""
        INSERT INTO job_stats (bucket, kind, outcome, shard, count)
        SELECT date_trunc('minute', r.finished_at), j.kind,
               CASE WHEN r.status = 'succeeded' THEN 'succeeded' ELSE 'failed' END, 0, count(*)
        FROM runs r JOIN jobs j ON j.id = r.job_id
        WHERE r.status IN ('succeeded', 'failed', 'lost') AND r.finished_at IS NOT NULL
        GROUP BY 1, 2, 3""")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS runs_count_finished ON runs")
    op.execute("DROP FUNCTION IF EXISTS titan_count_finished_runs()")
    op.drop_table('queue_samples')
    op.drop_table('job_stats')
