"""Every check family against the clouds the stack uses, each failure to ask turned into a row.

A check that cannot ask (no permission, an API call refused) does not stop the others: its row says
what could not be asked, as a warning, since the apply may still succeed. Missing credentials for a
cloud the stack uses are bad input instead (exit 2): no row could be trusted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial

from inferstack.preflight import apis, capacity, dns, network, offerings, quotas, secrets, versions
from inferstack.preflight.clients import Clouds
from inferstack.preflight.rows import Result, Row
from inferstack.preflight.targets import uses
from infra.settings import Cloud, Settings

Check = Callable[[Settings, Clouds], list[Row]]

AWS_CHECKS: tuple[tuple[str, Check], ...] = (
    (quotas.CHECK, quotas.aws_quotas),
    (offerings.CHECK, offerings.aws_offerings),
    (capacity.CHECK, capacity.aws_reservations),
    (versions.CHECK, versions.eks_versions),
    (versions.CHECK, versions.eks_addon_versions),
    (versions.CHECK, versions.aurora_versions),
)
GCP_CHECKS: tuple[tuple[str, Check], ...] = (
    (quotas.CHECK, quotas.gcp_quotas),
    (offerings.CHECK, offerings.gcp_offerings),
    (capacity.CHECK, capacity.gcp_reservations),
    (versions.CHECK, versions.gke_versions),
    (apis.CHECK, apis.gcp_apis),
)
EDGE_CHECKS: tuple[tuple[str, Check], ...] = ((dns.CHECK, dns.delegation),)


def _sdk_errors() -> tuple[type[Exception], ...]:
    """What a cloud call raises when it cannot be answered: refused, unreachable, credentials expired."""
    from botocore.exceptions import BotoCoreError, ClientError
    from google.auth.exceptions import GoogleAuthError
    from googleapiclient.errors import HttpError
    from httplib2 import HttpLib2Error

    return (ClientError, BotoCoreError, HttpError, GoogleAuthError, HttpLib2Error, OSError)


def run(
    settings: Settings,
    clouds: Clouds,
    *,
    eks_names: Mapping[str, str] | None = None,
    sources: Mapping[str, str] | None = None,
    operator_secrets: list[secrets.Wanted] | None = None,
) -> list[Row]:
    """The rows of every check that applies to the stack, in the order of the families.

    ``eks_names``: cluster -> physical EKS name (``network.eks_names`` of the plan); ``sources``:
    region -> the deployer's resource that Reachability Analyzer starts from; ``operator_secrets``:
    the secrets the plan's ExternalSecrets read that an operator writes (``secrets.operator_secrets``).
    """
    checks: list[tuple[str, Check]] = []
    if uses(settings, Cloud.AWS):
        checks.extend(AWS_CHECKS)
        paths = partial(network.endpoint_paths, eks_names=eks_names or {}, sources=sources or {})
        checks.append((network.CHECK, paths))
    if uses(settings, Cloud.GCP):
        checks.extend(GCP_CHECKS)
    if settings.edge is not None:
        checks.extend(EDGE_CHECKS)
    if operator_secrets:
        checks.append((secrets.CHECK, partial(secrets.operator_secret_rows, wanted=operator_secrets)))
    errors = _sdk_errors()
    rows: list[Row] = []
    for family, check in checks:
        try:
            rows.extend(check(settings, clouds))
        except errors as error:
            rows.append(
                Row(
                    family,
                    getattr(check, "func", check).__name__,
                    Result.WARN,
                    f"could not ask: {_one_line(error)}. Fix: the permission "
                    "the error names, then run preflight again",
                )
            )
    return rows


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())[:300]
