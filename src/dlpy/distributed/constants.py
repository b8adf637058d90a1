"""``torch.distributed.constants``: the default process-group timeouts.

``default_pg_timeout`` (30 minutes, as torch's) is what ``init_process_group`` and ``new_group``
wait when given no ``timeout``; ``default_pg_nccl_timeout`` is None, as in a torch build
without NCCL (dlpy has no NCCL).
"""

from __future__ import annotations

from datetime import timedelta

_DEFAULT_PG_TIMEOUT = timedelta(minutes=30)
default_pg_timeout = _DEFAULT_PG_TIMEOUT
default_pg_nccl_timeout = None

__all__ = ["default_pg_timeout", "default_pg_nccl_timeout"]
