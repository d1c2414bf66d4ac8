"""Who did something: the principal names recorded with every decision and proposal.

- ``api:ops-token``: a caller holding OPS_TOKEN (proposes ops changes only);
- ``api:approver-token``: a caller holding OPS_APPROVER_TOKEN (decides ops changes only);
- ``api:api-token``: a caller holding TITAN_API_TOKEN (projects, sales);
- ``api:loopback``: an API caller on loopback while no TITAN_API_TOKEN is configured;
- ``user:<name>``: a person at the desktop or CLI, by their operating-system user;
- ``jason (timeout)``: Jason deciding an approval nobody answered in time.
"""

from __future__ import annotations

import getpass

OPS_PROPOSER = "api:ops-token"
OPS_APPROVER = "api:approver-token"
API_TOKEN = "api:api-token"
API_LOOPBACK = "api:loopback"
JASON_TIMEOUT = "jason (timeout)"


def os_user() -> str:
    """The person at this machine: ``user:<login name>``."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no login name for this uid (a bare container)
        name = "unknown"
    return f"user:{name}"


def default_principal(decided_by: str) -> str:
    """The principal to record when a caller gives none: the channel says who it must be."""
    if decided_by == "jason":
        return JASON_TIMEOUT
    if decided_by == "person":
        return os_user()
    return decided_by
