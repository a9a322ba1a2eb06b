"""Every capability's tables, in one place: Alembic's environment and the migrations test import this.

A new capability adds its `models` module here, and nowhere else needs to know it.
"""

import sqlalchemy as sa

import cloud.accounts.models
import cloud.attribution.tables
import cloud.delivery.models
import cloud.fleet.models
import cloud.identity.models
import cloud.ingest.models
import cloud.jobs.models
import cloud.pages.models
import cloud.pages.promo.models
import cloud.privacy.models
import cloud.reports.rollup_tables
import cloud.tracking.models
from cloud.db.base import metadata

CAPABILITY_MODELS = (
    cloud.accounts.models,
    cloud.fleet.models,
    cloud.ingest.models,
    cloud.delivery.models,
    cloud.privacy.models,
    cloud.jobs.models,
    cloud.tracking.models,
    cloud.pages.promo.models,
    cloud.identity.models,
    cloud.pages.models,
    cloud.attribution.tables,
    cloud.reports.rollup_tables,
)


def all_tables() -> sa.MetaData:
    """The metadata with every capability's tables registered on it."""
    return metadata
