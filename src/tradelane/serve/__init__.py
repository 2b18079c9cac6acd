"""``tradelane serve``: schedules and watchers that wake polls, alerts, status and health.

``server`` runs it all; ``scheduler`` (APScheduler jobs and the route pool), ``schedules``
(next and missed runs), ``expect`` (expected arrivals), ``monitor`` and ``notify`` (alerts,
once per incident), ``health`` (/healthz) and ``status`` (what ``tradelane status`` adds).
Kept free of imports here so that the CLI does not load the scheduler to print a table.
"""
