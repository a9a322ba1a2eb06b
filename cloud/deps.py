"""FastAPI dependencies: a DB session per request and the two kinds of caller (register, tenant)."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlmodel import Session

from cloud.accounts.models import Register, Tenant
from cloud.fleet.service import authenticate_register, authenticate_tenant
from cloud.privacy.keys import IdentityKeys

register_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="RegisterToken",
    description="The register's token from `POST /v1/enroll`: `Authorization: Bearer <token>`.",
)
tenant_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="TenantApiKey",
    description="The retailer's api key from `echeck-cloud tenant add`: `Authorization: Bearer ek_...`.",
)


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_session(request: Request) -> Iterator[Session]:
    with Session(get_engine(request)) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_identity_keys(request: Request) -> IdentityKeys:
    keys: IdentityKeys = request.app.state.identity_keys
    return keys


IdentityKeysDep = Annotated[IdentityKeys, Depends(get_identity_keys)]


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=message, headers={"WWW-Authenticate": "Bearer"})


def current_register(
    session: SessionDep, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(register_bearer)]
) -> Register:
    if creds is None:
        raise _unauthorized("missing register token: send 'Authorization: Bearer <token>' from enrollment")
    register = authenticate_register(session, creds.credentials)
    if register is None:
        raise _unauthorized("unknown register token: enroll this register again with a new code")
    return register


def current_tenant(
    session: SessionDep, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(tenant_bearer)]
) -> Tenant:
    if creds is None:
        raise _unauthorized("missing api key: send 'Authorization: Bearer <tenant api key>'")
    tenant = authenticate_tenant(session, creds.credentials)
    if tenant is None:
        raise _unauthorized("unknown api key")
    return tenant


CurrentRegister = Annotated[Register, Depends(current_register)]
CurrentTenant = Annotated[Tenant, Depends(current_tenant)]
