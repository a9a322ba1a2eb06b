"""Promo's background job (handler in `cloud.pages.promo.reminders`, bound in `cloud.bootstrap`).

`REMINDER` is scheduled when a code is issued, for `expires_at − rule.remind_before_h`; its lock is the
code, so a code has at most one waiting reminder.
"""

from cloud.jobs import Job

REMINDER = Job("promo.reminder", lock_by="code_id", max_attempts=6, retry_base_s=30.0)
