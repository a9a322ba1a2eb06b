"""Who is calling the head-office side: a signed-in user or an integration's API key, reduced to what
the routes need (tenant, permissions, write access, visible stores)."""

from dataclasses import dataclass

from cloud.accounts.roles import Permission
from cloud.errors import Forbidden, NotFound


@dataclass(frozen=True, slots=True)
class Caller:
    tenant_id: int
    who: str  # for the audit log: a user's e-mail or "key:<name>"
    permissions: frozenset[Permission]
    can_write: bool
    store_ids: frozenset[int] | None  # None = every store of the tenant
    user_id: int | None = None
    api_key_id: int | None = None

    def require(self, permission: Permission) -> None:
        if permission not in self.permissions:
            raise Forbidden(f"your role does not allow this ({permission.value})")

    def sees_store(self, store_id: int) -> bool:
        return self.store_ids is None or store_id in self.store_ids

    def require_store(self, store_id: int) -> None:
        """A store outside the scope answers like one that does not exist: nothing about it leaks."""
        if not self.sees_store(store_id):
            raise NotFound(f"store {store_id} not found for this tenant")


# What an integration's key may read: the same as a tenant-wide analyst plus the fleet.
KEY_PERMISSIONS = frozenset({Permission.REPORTS, Permission.FLEET})
