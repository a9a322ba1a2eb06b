"""FastAPI dependencies: a DB session per request and the callers of the cloud.

- `CurrentRegister`: a register by its bearer token (401 unknown, 403 `register_revoked`).
- `CurrentCaller`: head office, by an API key (`Authorization: Bearer ek_…`) or a signed-in user's session
  cookie; a `Caller` with the tenant, permissions, write access and the visible stores (`store_ids`).
- `needs(Permission.X)`: a `Caller` whose role (or key) allows X, else 403.
- `ReportReader`, `FleetReader`: the two read permissions as ready-made annotations.
- `CurrentTenant`: the tenant of any live API key (read or write); `WritingTenant`: of a write key only.
- `SignedInUser` / `page_user(Permission.X)`: for HTML pages; no session redirects to the sign-in page.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cloud.accounts import api_keys, register_credentials, sessions
from cloud.accounts.callers import KEY_PERMISSIONS, Caller
from cloud.accounts.models import ApiKey, Register, Tenant
from cloud.accounts.roles import GRANTS, Permission, Role
from cloud.accounts.scope import resolve
from cloud.accounts.sessions import SignedIn
from cloud.accounts.users import scope_of
from cloud.errors import Forbidden, PageForbidden, SignInRequired, Unauthorized
from cloud.pages.kept_reader import KeptReader
from cloud.pages.kept_writer import KeptWriter
from cloud.privacy.keys import IdentityKeys
from cloud.settings import DEFAULT_PUBLIC_URL, Settings
from cloud.tracking.click_ids import ClickIds
from cloud.tracking.page_events import ViewTokens
from cloud.tracking.writer import BatchWriter

SESSION_COOKIE = "echeck_session"

register_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="RegisterToken",
    description="The register's token from `POST /v1/enroll`: `Authorization: Bearer <token>`.",
)
tenant_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An integration's API key (`echeck-cloud key add`): `Authorization: Bearer ek_...`. "
    "Scope `read` reads; `write` is needed for push devices, opt-outs, app events, consents and erasures.",
)
session_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name="HeadOfficeSession",
    description="A signed-in head-office user's session (set by the sign-in page): reads only.",
)


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_session(request: Request) -> Iterator[Session]:
    with Session(get_engine(request)) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


@dataclass(frozen=True, slots=True)
class PageServices:
    """What the buyer's page routes use of the app, as one dependency made once per app: FastAPI resolves
    every dependency of every request, and the page's six (a session among them, an async generator) cost
    more of its CPU than its lookup (docs/performance.md, "Sixth pass"). The route opens its session in
    its thread (`session`) and closes it there."""

    engine: Engine
    keys: IdentityKeys
    tokens: ViewTokens
    click_ids: ClickIds
    writer: BatchWriter | None  # the collector's group-commit writer (PostgreSQL): the fetches
    kept_writer: KeptWriter | None  # pages kept rendered, written after their answer (PostgreSQL)
    kept_reader: KeptReader | None = None  # kept pages read on the event loop (PostgreSQL)

    def session(self) -> Session:
        """Objects are not expired on commit: see cloud.pages.service._found."""
        return Session(self.engine, expire_on_commit=False)


async def get_page_services(request: Request) -> PageServices:
    services: PageServices = request.app.state.page_services
    return services


PageServicesDep = Annotated[PageServices, Depends(get_page_services)]
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(tenant_bearer)]
CookieDep = Annotated[str | None, Depends(session_cookie)]


# The dependencies that only read the app's state are `async def`: FastAPI runs a plain `def` dependency in
# the thread pool, and each such hop (a thread woken, the GIL handed over and back) cost the e-receipt page
# more CPU than the read itself (docs/performance.md, "E-receipt page", third pass).
async def get_identity_keys(request: Request) -> IdentityKeys:
    keys: IdentityKeys = request.app.state.identity_keys
    return keys


IdentityKeysDep = Annotated[IdentityKeys, Depends(get_identity_keys)]


async def get_click_ids(request: Request) -> ClickIds:
    click_ids: ClickIds = request.app.state.click_ids
    return click_ids


ClickIdsDep = Annotated[ClickIds, Depends(get_click_ids)]


def public_url(request: Request) -> str:
    """The cloud's base URL for links and agents: the configured public URL (`--public-url`,
    ECHECK_PUBLIC_URL), else the one called; a wildcard listen address is never a public URL."""
    settings = getattr(request.app.state, "settings", None)
    configured = settings.public_url if isinstance(settings, Settings) else ""
    if configured == DEFAULT_PUBLIC_URL or urlsplit(configured).hostname in (None, "", "0.0.0.0", "::"):
        return str(request.base_url).rstrip("/")
    return configured.rstrip("/")


def current_register(
    session: SessionDep, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(register_bearer)]
) -> Register:
    if creds is None:
        raise Unauthorized("missing register token: send 'Authorization: Bearer <token>' from enrollment")
    register = register_credentials.authenticate(session, creds.credentials)
    if register is None:
        raise Unauthorized("unknown register token: enroll this register again with a new code")
    return register


def _api_key(session: Session, creds: HTTPAuthorizationCredentials | None) -> ApiKey:
    if creds is None:
        raise Unauthorized("missing api key: send 'Authorization: Bearer <api key>'")
    key = api_keys.authenticate(session, creds.credentials)
    if key is None:
        raise Unauthorized("unknown, revoked or expired api key")
    return key


def current_tenant(session: SessionDep, creds: BearerDep) -> Tenant:
    """The tenant of a live API key of any scope (reads)."""
    tenant = session.get(Tenant, _api_key(session, creds).tenant_id)
    assert tenant is not None  # FK
    return tenant


def writing_tenant(session: SessionDep, creds: BearerDep) -> Tenant:
    """The tenant of a live API key with the `write` scope; a read key gets 403."""
    key = _api_key(session, creds)
    if api_keys.WRITE not in api_keys.scopes_of(key):
        raise Forbidden(f"the api key {key.prefix}… may only read: this needs a key with the 'write' scope")
    tenant = session.get(Tenant, key.tenant_id)
    assert tenant is not None  # FK
    return tenant


def writing_key(session: SessionDep, creds: BearerDep) -> ApiKey:
    """A live API key with the `write` scope (its tenant and name, for records of who wrote); a read key
    gets 403."""
    key = _api_key(session, creds)
    if api_keys.WRITE not in api_keys.scopes_of(key):
        raise Forbidden(f"the api key {key.prefix}… may only read: this needs a key with the 'write' scope")
    return key


def caller_of_user(session: Session, signed_in: SignedIn) -> Caller:
    user = signed_in.user
    assert user.id is not None
    role = Role(user.role)
    return Caller(
        tenant_id=user.tenant_id,
        who=user.email,
        permissions=GRANTS[role],
        can_write=False,  # a browser session reads the API; writes go through the pages' forms
        store_ids=resolve(session, user.tenant_id, scope_of(user)),
        user_id=user.id,
    )


def current_caller(session: SessionDep, creds: BearerDep, cookie: CookieDep) -> Caller:
    """An API key if one is sent, else the signed-in user of the session cookie."""
    if creds is not None:
        key = _api_key(session, creds)
        return Caller(
            tenant_id=key.tenant_id,
            who=f"key:{key.name}",
            permissions=KEY_PERMISSIONS,
            can_write=api_keys.WRITE in api_keys.scopes_of(key),
            store_ids=None,
            api_key_id=key.id,
        )
    signed_in = sessions.resolve(session, cookie)
    if signed_in is None:
        raise Unauthorized("sign in, or send 'Authorization: Bearer <api key>'")
    return caller_of_user(session, signed_in)


CurrentCaller = Annotated[Caller, Depends(current_caller)]


def needs(permission: Permission) -> Callable[[Caller], Caller]:
    """A dependency: the caller, if its role or key allows `permission`; else 403."""

    def check(caller: CurrentCaller) -> Caller:
        caller.require(permission)
        return caller

    return check


ReportReader = Annotated[Caller, Depends(needs(Permission.REPORTS))]
FleetReader = Annotated[Caller, Depends(needs(Permission.FLEET))]


def signed_in_user(session: SessionDep, cookie: CookieDep) -> SignedIn:
    """For HTML pages: the live session, or the sign-in page (303) when there is none."""
    signed_in = sessions.resolve(session, cookie)
    if signed_in is None:
        raise SignInRequired()
    return signed_in


SignedInUser = Annotated[SignedIn, Depends(signed_in_user)]


def page_user(permission: Permission) -> Callable[[SignedIn], SignedIn]:
    """For HTML pages that need a permission: a signed-in user whose role allows it, else a 403 page."""

    def check(signed_in: SignedInUser) -> SignedIn:
        if not Role(signed_in.user.role).allows(permission):
            raise PageForbidden(f"вашей роли это недоступно ({permission.value})")
        return signed_in

    return check


CurrentRegister = Annotated[Register, Depends(current_register)]
CurrentTenant = Annotated[Tenant, Depends(current_tenant)]
WritingTenant = Annotated[Tenant, Depends(writing_tenant)]
WritingKey = Annotated[ApiKey, Depends(writing_key)]


async def get_view_tokens(request: Request) -> ViewTokens:
    tokens: ViewTokens = request.app.state.view_tokens
    return tokens


ViewTokensDep = Annotated[ViewTokens, Depends(get_view_tokens)]
