"""Schemathesis against /openapi.json of a running API: no input may cause a server error.

The log's follow (``/api/logs/stream``) never ends by itself, so schemathesis's own call (which
reads the whole body) would hang on it: its generated requests go out through httpx, and the
stream is closed once the status and headers are in.
"""

from __future__ import annotations

from collections import Counter

import httpx
import hypothesis
import schemathesis
from hypothesis import HealthCheck, Phase

from tests.api.conftest import TOKEN
from tests.api.server import ApiServer

EXAMPLES_PER_OPERATION = 15
STREAMS = ["/api/logs/stream"]


def test_no_generated_request_gets_a_5xx(api: ApiServer) -> None:
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    failures: list[str] = []
    operations = 0
    statuses: list[int] = []
    for result in schema.exclude(path=STREAMS).get_all_operations():
        operation = result.ok()
        operations += 1

        @hypothesis.settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                             suppress_health_check=list(HealthCheck),
                             phases=[Phase.explicit, Phase.generate])
        @hypothesis.given(case=operation.as_strategy())
        def exercise(case: schemathesis.Case) -> None:
            if case.headers and "X-OPS-TOKEN" in case.headers:
                case.headers["X-OPS-TOKEN"] = TOKEN  # reach past auth into the handlers
            response = case.call(base_url=api.url)
            statuses.append(response.status_code)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> "
                                f"{response.status_code}: {case.body!r:.300} "
                                f"{response.text[:300]}")

        exercise()
    streams = 0
    for result in schema.include(path=STREAMS).get_all_operations():
        streams += 1
        _exercise_stream(result.ok(), api.url, statuses, failures)
    assert operations >= 12 and streams == len(STREAMS)
    seen = Counter(statuses)
    # It got past validation and auth into the handlers, not just bounced off them.
    assert seen[201] and seen[200] and seen[422] and seen[404], seen
    assert not failures, "\n".join(failures[:10])


def _exercise_stream(operation: schemathesis.APIOperation, base_url: str, statuses: list[int],
                     failures: list[str]) -> None:
    with httpx.Client(base_url=base_url, trust_env=False, timeout=30) as http:

        @hypothesis.settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                             suppress_health_check=list(HealthCheck),
                             phases=[Phase.explicit, Phase.generate])
        @hypothesis.given(case=operation.as_strategy())
        def exercise(case: schemathesis.Case) -> None:
            with http.stream(case.method, case.formatted_path, params=case.query,
                             headers=case.headers) as response:
                statuses.append(response.status_code)
                if response.status_code >= 500:
                    response.read()
                    failures.append(f"{case.method} {case.formatted_path} {case.query!r:.200} "
                                    f"-> {response.status_code}: {response.text[:300]}")

        exercise()
