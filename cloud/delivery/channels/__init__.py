"""Channel adapters: one per provider wire format, all behind `base.ChannelAdapter`."""

from cloud.delivery.channels.base import (
    BadReport,
    ChannelAdapter,
    Message,
    ProviderError,
    ProviderReport,
)
from cloud.delivery.channels.registry import SETTINGS_MODELS, build_adapter, validate_settings

__all__ = [
    "SETTINGS_MODELS",
    "BadReport",
    "ChannelAdapter",
    "Message",
    "ProviderError",
    "ProviderReport",
    "build_adapter",
    "validate_settings",
]
