"""The AI call ledger in the desktop: the Logs tab's AI calls view and the per-project AI panel."""
