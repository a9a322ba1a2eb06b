"""Signed, staged updates of the packaged agent (the Windows path; Linux registers update from the apt
repository, docs/updates.md).

- `layout`: the install root on the register: one directory per version, the `current` pointer, state;
- `policy`: when a staged update may be applied (no open checkout, settled for a while);
- `client`: TUF through tufup: refresh the signed metadata, download and verify the channel's newest
  bundle, stage it beside the running version;
- `apply`: switch to the staged version, wait for it to answer healthy, else roll back;
- `worker`: the agent's thread that runs these steps.

Nothing here touches the data directory (outbox, enrollment, secrets): it lives elsewhere and `layout`
refuses an install root that contains it.
"""
