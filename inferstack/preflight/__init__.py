"""``inferstack preflight``: before an apply, ask the clouds whether it can succeed.

Quotas, offerings, reservations, versions, APIs and DNS delegation fail an apply late, after
minutes or hours of creating everything else; each is a question the cloud answers in a second.
The checks read the stack's settings (what the plan computed offline) and ask with the user's own
credentials, through the SDKs of the ``preflight`` extra.
"""

from inferstack.preflight.rows import Result, Row, blocked
from inferstack.preflight.runner import run

__all__ = ["Result", "Row", "blocked", "run"]
