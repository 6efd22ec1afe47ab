"""The clouds' own SDKs, reached with the user's credentials; imported only when preflight runs.

boto3 for AWS and the Google API discovery client (google-api-python-client, whose API documents
ship inside the package) for GCP. Both come with the ``preflight`` extra; the rest of the toolkit
never imports them. Tests hand the checks a ``Clouds`` whose clients answer from moto, botocore's
Stubber or recorded GCP responses.
"""

from __future__ import annotations

import warnings
from typing import Any, Protocol


class MissingExtra(RuntimeError):
    """The SDKs of the ``preflight`` extra are not installed."""


class NoCredentials(RuntimeError):
    """A cloud the stack uses cannot be asked: no credentials were found for it."""


class Clouds(Protocol):
    def aws(self, service: str, region: str) -> Any:
        """A boto3 client of ``service`` in ``region``."""
        ...

    def gcp(self, api: str, version: str) -> Any:
        """A discovery client of Google API ``api`` at ``version`` (compute v1, container v1, ...)."""
        ...

    def name_servers(self, zone: str) -> list[str] | None:
        """The NS records the public DNS answers for ``zone``; None when no resolver is installed."""
        ...


class LiveClouds:
    """The real clouds, with the default credential chains of boto3 and google-auth."""

    def __init__(self) -> None:
        try:
            with warnings.catch_warnings():
                # google.api_core warns about Python versions it will stop supporting: not the user's concern here.
                warnings.simplefilter("ignore", FutureWarning)
                import boto3
                import googleapiclient.discovery  # noqa: F401
        except ImportError as error:
            raise MissingExtra(str(error)) from None
        self._session = boto3.Session()
        self._aws: dict[tuple[str, str], Any] = {}
        self._gcp: dict[tuple[str, str], Any] = {}
        self._credentials: Any = None

    def aws(self, service: str, region: str) -> Any:
        if self._session.get_credentials() is None:
            raise NoCredentials(
                "no AWS credentials found (AWS_PROFILE, AWS_ACCESS_KEY_ID or an SSO login: aws sso login)"
            )
        key = (service, region)
        if key not in self._aws:
            self._aws[key] = self._session.client(service, region_name=region)  # type: ignore[call-overload]
        return self._aws[key]

    def gcp(self, api: str, version: str) -> Any:
        import google.auth
        import google.auth.exceptions
        from googleapiclient.discovery import build

        if self._credentials is None:
            try:
                self._credentials, _ = google.auth.default()
            except google.auth.exceptions.DefaultCredentialsError:
                raise NoCredentials(
                    "no GCP credentials found (gcloud auth application-default login, or "
                    "GOOGLE_APPLICATION_CREDENTIALS)"
                ) from None
        key = (api, version)
        if key not in self._gcp:
            self._gcp[key] = build(api, version, credentials=self._credentials, cache_discovery=False)
        return self._gcp[key]

    def name_servers(self, zone: str) -> list[str] | None:
        try:
            import dns.exception
            import dns.resolver
        except ImportError:
            return None
        try:
            answer = dns.resolver.resolve(zone, "NS")
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.exception.DNSException:
            return None
        return sorted(str(r.target).rstrip(".").lower() for r in answer)
