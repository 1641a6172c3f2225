"""The JSON API as served: the NinjaAPI of core.platform.api with every app's router mounted."""

from __future__ import annotations

from core.accounts.api import router as accounts
from core.audit.api import router as audit
from core.dispatch.api import router as dispatch
from core.learning.api import router as learning
from core.learning.review_api import router as spaced_review
from core.ops.api import router as ops
from core.platform.api import api

api.add_router("/", accounts)  # /api/me
api.add_router("/dispatch/", dispatch)
api.add_router("/", learning)  # /api/problems/..., /api/search, /api/lessons/...
api.add_router("/", spaced_review)  # /api/lessons/{id}/done, /api/review/...
api.add_router("/ops/", ops)
api.add_router("/audit/", audit)

__all__ = ["api"]
