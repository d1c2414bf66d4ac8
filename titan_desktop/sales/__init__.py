"""The Sales tab: what is earning money (worker.sales does the queries)."""
