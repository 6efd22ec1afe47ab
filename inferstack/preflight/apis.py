"""The Google APIs of the project: the stack enables its own, but only through the Service Usage API.

The program declares every API its resources need (``infra.gcp.services``) and enables it in the
apply; that works only when serviceusage.googleapis.com is on (it is in new projects, but an
organisation can turn it off) and the deployer may enable services. Service Usage services.list
(https://cloud.google.com/service-usage/docs/reference/rest/v1/services/list).
"""

from __future__ import annotations

from inferstack.preflight.clients import Clouds
from inferstack.preflight.rows import Result, Row
from infra.gcp.services import required_apis
from infra.settings import Settings

CHECK = "api"
SERVICE_USAGE = "serviceusage.googleapis.com"


def enabled_services(settings: Settings, clouds: Clouds) -> set[str]:
    services = clouds.gcp("serviceusage", "v1").services()
    request = services.list(parent=f"projects/{settings.gcp_project}", filter="state:ENABLED", pageSize=200)
    enabled: set[str] = set()
    while request is not None:
        page = request.execute()
        enabled.update(s["config"]["name"] for s in page.get("services", []))
        request = services.list_next(request, page)
    return enabled


def gcp_apis(settings: Settings, clouds: Clouds) -> list[Row]:
    enabled = enabled_services(settings, clouds)
    project = settings.gcp_project
    if SERVICE_USAGE not in enabled:
        return [
            Row(
                CHECK,
                f"{project} {SERVICE_USAGE}",
                Result.BLOCK,
                "off: the stack cannot enable the APIs it needs. "
                f"Fix: gcloud services enable {SERVICE_USAGE} --project {project}",
            )
        ]
    off = [api for api in required_apis() if api not in enabled]
    if not off:
        return [Row(CHECK, project, Result.OK, f"all {len(required_apis())} APIs the stack uses are enabled")]
    return [
        Row(
            CHECK,
            f"{project} {api}",
            Result.WARN,
            "off; the apply enables it (needs serviceusage.services.enable, "
            f"roles/serviceusage.serviceUsageAdmin). To enable it ahead: gcloud services enable {api} --project {project}",
        )
        for api in off
    ]
