"""Head-office roles and what each may do. Values only: the routes ask `Role.allows(permission)`."""

from enum import StrEnum


class Permission(StrEnum):
    USERS = "users"  # invite, change, disable people; revoke their sessions
    SETTINGS = "settings"  # tenant settings and API keys
    TEMPLATES = "templates"  # the e-receipt templates
    AUDIT = "audit"  # read the audit log
    REPORTS = "reports"  # receipts, delivery reports, exports
    FLEET = "fleet"  # registers' state, enrollment codes, revoke and rotate register tokens


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    ANALYST = "analyst"
    STORE_IT = "store_it"

    @property
    def label(self) -> str:
        return LABELS[self]

    def allows(self, permission: Permission) -> bool:
        return permission in GRANTS[self]


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: frozenset(Permission),
    Role.ADMIN: frozenset(
        {Permission.USERS, Permission.SETTINGS, Permission.TEMPLATES, Permission.AUDIT, Permission.FLEET}
    ),
    Role.ANALYST: frozenset({Permission.REPORTS}),
    Role.STORE_IT: frozenset({Permission.FLEET}),
}

LABELS: dict[Role, str] = {
    Role.OWNER: "владелец",
    Role.ADMIN: "администратор",
    Role.ANALYST: "аналитик",
    Role.STORE_IT: "ИТ магазинов",
}


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip().lower())
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise ValueError(f"unknown role {value!r}: one of {names}") from None
