"""Sales: orders of published projects and the revenue they bring (the Sales tab's core).

Ways in: ``orders.record_order`` (desktop dialog, ``titan sales record``, ``POST
/api/sales/orders``), ``csvimport.import_csv`` (``titan sales import``) and
``sources.sync_sources`` (``titan sales sync``: Stripe, Shopify). Ways out: ``summary``
(per-currency KPIs, revenue over time, per project), ``activity`` (yesterday's performance,
the log of sales actions, the ``titan.messages`` convention) and ``overview`` (all of it at
once, for the CLI, the API and Jason). Money is integer minor units + ISO currency throughout.
"""
