"""Object-level access: who may see a subject and everything that hangs off it.

Every subject records the client that created it (`subjects.owner_client_id`). An
onboarding client sees only its own subjects and, through them, their documents,
verifications and challenges; CS reps, risk, the scheduler and admins see across
clients. A record another onboarding client owns is answered exactly like one that does
not exist (NOT_FOUND with the same reason code and message), so an id guessed or leaked
from elsewhere reveals neither the record nor that it exists.

Subjects written before ownership was recorded, and not attributable from the audit
trail by migration 0010, have no owner: they stay visible to every onboarding client.
"""

from __future__ import annotations

from services.platform.auth import Caller, Role, current_caller

# Roles confined to the subjects they created.
CONFINED_ROLES = frozenset({Role.ONBOARDING})


def may_see(owner_client_id: str | None, caller: Caller | None = None) -> bool:
    """Whether the caller (default: the current call's) may see a record owned by `owner_client_id`."""
    who = caller or current_caller()
    if who.role not in CONFINED_ROLES or owner_client_id is None:
        return True
    return owner_client_id == who.client_id


def owner_for_new_record(caller: Caller | None = None) -> str:
    """The owner a record created in the current call gets: the calling client."""
    return (caller or current_caller()).client_id
