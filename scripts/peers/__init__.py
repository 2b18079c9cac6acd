"""Throwaway partner servers on 127.0.0.1 that both ``make demo`` and the tests start: the demo
must not import from tests/, so the one copy lives here and tests/support wraps it."""
