"""TLS is verified by default, a CA bundle per target; bad http target specs are reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.http_cases import context, documents, expected_json, http_route
from support.http_server import RecordingServer
from tradelane.errors import TargetUnavailable
from tradelane.spec import load_route
from tradelane.targets.http import HttpTarget


def test_an_unknown_certificate_is_refused_by_default(tls_server: RecordingServer) -> None:
    tgt = HttpTarget(http_route(tls_server.url, retry={"attempts": 1}), environ={})
    with pytest.raises(TargetUnavailable, match="TLS certificate is not trusted"):
        tgt.deliver(documents(3), context(None))
    assert tls_server.requests == []


def test_a_ca_bundle_per_target_is_trusted(tls_server: RecordingServer,
                                           certificates: tuple[Path, Path, Path]) -> None:
    ca, _cert, _key = certificates
    tgt = HttpTarget(http_route(tls_server.url, ca_bundle=str(ca)), environ={})
    tgt.deliver(documents(3), context(None))
    assert tls_server.processed_records == expected_json(3)


def test_verify_false_is_possible_but_explicit(tls_server: RecordingServer) -> None:
    tgt = HttpTarget(http_route(tls_server.url, verify=False), environ={})
    tgt.deliver(documents(1), context(None))
    assert len(tls_server.requests) == 1


BASE = """\
source: {folder: inbox}
format: {type: csv}
fields: {order_id: {}}
target:
"""


@pytest.mark.parametrize(("target", "problem"), [
    ("  http: {url: ftp://x}", "target.http.url: give an http:// or https:// URL with a host"),
    ("  http: {url: 'https://me:pw@x'}", "target.http.url: no credentials in the URL"),
    ("  http: {url: 'https://x', headers: {X-Api-Key: abc}}",
     "target.http.headers: header 'X-Api-Key' looks secret"),
    ("  http: {url: 'https://x', rate_limit: fast}", "target.http.rate_limit: 'fast' is not a"),
    ("  http: {url: 'https://x', auth: {basic_user: u}}",
     "target.http.auth: basic auth needs both"),
    ("  http: {url: 'https://x', timeouts: {read: soon}}", "target.http.timeouts.read: 'soon'"),
    ("  http: {url: 'https://x', envelope: {a: 'x {records}'}}",
     "target.http.envelope: the envelope needs '{records}' exactly once"),
    ("  http: {url: 'https://x', envelope: {a: '{records}', b: '{date}'}}",
     "target.http.envelope: unknown placeholder(s) ['date']"),
    ("  http: {url: 'https://x', btach: 5}", "target.http.btach: unknown option"),
    ("  http: {url: 'https://x'}\n  folder: out", "target: give exactly one of 'folder', 'sftp'"),
])
def test_bad_http_targets_are_reported_at_their_place(tmp_path: Path, target: str,
                                                      problem: str) -> None:
    spec = tmp_path / "x.yaml"
    spec.write_text(BASE + target + "\n")
    problems: list[str] = []
    assert load_route(spec, tmp_path, problems) is None
    assert any(p.startswith(f"x.yaml: {problem}") for p in problems), problems


def test_a_full_http_target_loads(tmp_path: Path) -> None:
    spec = tmp_path / "x.yaml"
    spec.write_text(BASE + """\
  http:
    url: https://crm.example/api/orders
    method: PUT
    batch: 250
    headers: {X-Api-Key: {env: CRM_KEY}, X-Source: tradelane}
    auth: {bearer_env: CRM_TOKEN}
    timeouts: {connect: 5s, read: 30s, write: 30s, pool: 5s}
    retry: {attempts: 6, backoff: 500ms, max_backoff: 1m, max_retry_after: 5m}
    rate_limit: 600/m
    envelope: {orders: '{records}', source: '{route}', batch: '{batch}'}
""")
    problems: list[str] = []
    route = load_route(spec, tmp_path, problems)
    assert problems == [] and route is not None and route.target.http is not None
    assert route.target.http.requests_per_second == 10
    assert route.target.http.timeouts.connect.total_seconds() == 5
