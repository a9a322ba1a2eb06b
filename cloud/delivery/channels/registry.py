"""From a tenant's stored settings to a working adapter; settings are validated when they are set."""

from typing import Any

import httpx
from pydantic import ValidationError

from cloud.delivery.cascade import Channel
from cloud.delivery.channels.base import ChannelAdapter, ChannelSettings
from cloud.delivery.channels.email import EmailChannel, EmailSettings
from cloud.delivery.channels.push import PushChannel, PushSettings
from cloud.delivery.channels.sms import SmsChannel, SmsSettings
from cloud.delivery.channels.viber import ViberChannel, ViberSettings
from cloud.errors import InvalidSetting

SETTINGS_MODELS: dict[Channel, type[ChannelSettings]] = {
    Channel.EMAIL: EmailSettings,
    Channel.PUSH: PushSettings,
    Channel.VIBER: ViberSettings,
    Channel.SMS: SmsSettings,
}
SECRET_FIELDS = frozenset(
    {"password", "access_token", "auth_token", "api_id", "callback_secret", "webhook_secret"}
)


def validate_settings(channel: Channel, values: dict[str, Any]) -> dict[str, Any]:
    """The settings as they will be stored, or InvalidSetting saying which field is wrong (no values)."""
    try:
        return SETTINGS_MODELS[channel].model_validate(values).model_dump()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidSetting(f"{channel} settings: {problems}") from exc


def redacted(values: dict[str, Any]) -> dict[str, Any]:
    """What may be shown or logged: secrets replaced by their last 2 characters."""
    return {k: ("***" + str(v)[-2:] if k in SECRET_FIELDS and v else v) for k, v in values.items()}


def build_adapter(channel: Channel, values: dict[str, Any], price: int, http: httpx.Client) -> ChannelAdapter:
    settings = SETTINGS_MODELS[channel].model_validate(values)
    if isinstance(settings, EmailSettings):
        return EmailChannel(settings, price)
    if isinstance(settings, PushSettings):
        return PushChannel(settings, price, http)
    if isinstance(settings, ViberSettings):
        return ViberChannel(settings, price, http)
    assert isinstance(settings, SmsSettings)
    return SmsChannel(settings, price, http)
