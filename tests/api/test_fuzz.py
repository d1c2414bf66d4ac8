"""Schemathesis against /openapi.json of a running API: no input may cause a server error."""

from __future__ import annotations

from collections import Counter

import hypothesis
import schemathesis
from hypothesis import HealthCheck, Phase

from tests.api.conftest import TOKEN
from tests.api.server import ApiServer

EXAMPLES_PER_OPERATION = 15


def test_no_generated_request_gets_a_5xx(api: ApiServer) -> None:
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    failures: list[str] = []
    operations = 0
    statuses: list[int] = []
    for result in schema.get_all_operations():
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
    assert operations >= 12
    seen = Counter(statuses)
    # It got past validation and auth into the handlers, not just bounced off them.
    assert seen[201] and seen[200] and seen[422] and seen[404], seen
    assert not failures, "\n".join(failures[:10])
