"""The Google APIs a stack's GCP resources need, enabled by the stack before anything uses them.

A new project has few APIs enabled; creating a GKE cluster, a KMS key ring or a Certificate
Manager certificate in a project where its API is off fails at apply with SERVICE_DISABLED. Each
API here is a ``gcp.projects.Service`` with ``disableOnDestroy: false``: destroying one stack must
not switch an API off under another stack (or anything else) in the same project, and the
provider's documentation says the flag should only be true where the configuration manages the
project itself. Enabling an API that is already on is a no-op, so two stacks in one project
each declaring the same API is safe.

Enabling APIs needs the Service Usage API (on in every new project) and the
``serviceusage.services.enable`` permission (roles/serviceusage.serviceUsageAdmin).

Every regional GCP provider of the stack depends on these services (see ``infra.parts``), so
every GCP resource waits for them without each component having to say so.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_gcp as gcp

from infra.naming import resource_name

API_OF_MODULE: dict[str, str] = {
    "certificatemanager": "certificatemanager.googleapis.com",
    "compute": "compute.googleapis.com",
    "container": "container.googleapis.com",
    "kms": "cloudkms.googleapis.com",
    "logging": "logging.googleapis.com",
    "monitoring": "monitoring.googleapis.com",
    "projects": "cloudresourcemanager.googleapis.com",
    "redis": "redis.googleapis.com",
    "serviceaccount": "iam.googleapis.com",
    "servicenetworking": "servicenetworking.googleapis.com",
    "sql": "sqladmin.googleapis.com",
    "storage": "storage.googleapis.com",
}
"""Pulumi GCP module (the part of a type token before '/') -> the API its resources are served by."""

RUNTIME_APIS: tuple[str, ...] = ("logging.googleapis.com", "monitoring.googleapis.com")
"""Used by what runs, not by what is created: GKE sends system logs and metrics to these."""


def required_apis() -> list[str]:
    """Every API the program's GCP resources and clusters use, sorted."""
    return sorted({*API_OF_MODULE.values(), *RUNTIME_APIS})


class ProjectServices(pulumi.ComponentResource):
    """The project's APIs, each enabled once and never disabled by a destroy."""

    services: list[gcp.projects.Service]

    def __init__(
        self,
        name: str,
        *,
        project: str,
        apis: Sequence[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("inferstack:gcp:ProjectServices", name, None, opts)
        self.services = [
            gcp.projects.Service(
                resource_name(name, api.split(".")[0]),
                project=project,
                service=api,
                disable_on_destroy=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for api in apis
        ]
        self.register_outputs({"apis": list(apis)})
