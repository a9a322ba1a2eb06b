"""What the agent's local API says to the cashier's UI: pydantic models only, no agent internals.

`ui/` imports this module (DESIGN.md: "the agent's local API schemas"), so it stays import-light:
pydantic and the standard library, nothing that opens a file, a socket or a database.
"""

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from agent.status import AgentStatus  # values only (pydantic); re-exported so the UI reads the status too

SECRET_HEADER = "X-Echeck-Secret"  # the local secret the agent writes into its data dir at start
SECRET_FILE = "ui-secret"  # file name inside the agent's data dir (0600)
SERVICE_TYPE = "_echeck-agent._tcp.local."  # zeroconf, advertised when the agent listens beyond localhost
PREFIX = "/agent/v1"
__all__ = [
    "AgentStatus",
    "AnswerBody",
    "AnswerKind",
    "AnswerResult",
    "PromptMode",
    "PromptView",
    "PromptsPage",
    "RecentReceipt",
    "RecentReceipts",
    "SyncNow",
]


class PromptMode(StrEnum):
    CONFIRM = "confirm"  # known card: "…your phone ends in 45-67?"
    ENTER = "enter"  # anonymous buyer: type a phone (or an e-mail)


class AnswerKind(StrEnum):
    """What a UI may answer. The agent adds `withdrawn` and `known` for hooks; UIs never send them."""

    CONFIRMED = "confirmed"
    CONTACT = "contact"
    SKIPPED = "skipped"
    TIMED_OUT = "timed_out"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PromptView(_Model):
    prompt_id: str
    checkout_id: str
    mode: PromptMode
    masked_phone: str | None = Field(default=None, examples=["+7 *** ***-45-67"])
    phone_tail: str | None = Field(default=None, examples=["45-67"])
    buyer_name: str | None = None
    expires_in_s: float = Field(description="Seconds until the asking hook stops waiting.")
    landing_url: str | None = Field(
        default=None,
        description="Where the buyer finds this e-receipt (the popup's QR); null when the cloud is unknown.",
    )


class PromptsPage(_Model):
    """The open prompts after a change. Pass `version` back as `since` to wait for the next change."""

    version: int
    prompts: list[PromptView]


class AnswerBody(_Model):
    kind: AnswerKind
    contact: str | None = Field(
        default=None,
        description="With kind=contact only: a phone in any common format or an e-mail; validated here.",
        examples=["8 (916) 123-45-67"],
    )


class AnswerResult(_Model):
    accepted: bool = Field(description="False: the prompt is gone (answered, timed out, checkout closed).")


class RecentReceipt(_Model):
    receipt_key: str
    closed_at: datetime
    total: int = Field(description="Kopecks")
    contact_masked: str | None = None
    state: str = Field(description="pending | acked | rejected")


class RecentReceipts(_Model):
    receipts: list[RecentReceipt]


class SyncNow(_Model):
    woken: bool = Field(description="False when the agent has no sync worker (not enrolled).")
