"""When an approval is overdue: one definition for Jason's decision round and the worker's
cheap "anything overdue?" check. Plain SQL, no imports: the worker asks before it loads the
decision service (and SQLAlchemy)."""

OVERDUE = ("status = 'awaiting_approval' "
           "AND awaiting_since + approval_timeout_seconds * interval '1 second' <= now()")
ANY_OVERDUE = f"SELECT EXISTS (SELECT 1 FROM projects WHERE {OVERDUE})"
