"""Schema and consistency checks for infra/catalog, plus the model-fit examples."""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Callable
from importlib import resources
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from infra.catalog import (
    BOOT_DISK_TYPES,
    PRECISIONS,
    AwsInstanceType,
    Catalog,
    DeviceKind,
    GcpMachineType,
    build_catalog,
    catalog,
    model_fit,
    tpu_topology_chips,
)

TABLES = (
    "regions.yaml",
    "machines.yaml",
    "models.yaml",
    "kubernetes.yaml",
    "datastores.yaml",
    "limits.yaml",
    "postgres.yaml",
    "addons.yaml",
)


def raw(name: str) -> Any:
    return yaml.safe_load(resources.files("infra.catalog").joinpath(name).read_text())


def raw_tables() -> dict[str, Any]:
    return {name: raw(name) for name in TABLES}


def build(tables: dict[str, Any]) -> Catalog:
    return build_catalog(*(tables[name] for name in TABLES))


@pytest.fixture(scope="module")
def c() -> Catalog:
    return catalog()


def all_machines(c: Catalog) -> list[tuple[str, str, AwsInstanceType | GcpMachineType]]:
    rows: list[tuple[str, str, AwsInstanceType | GcpMachineType]] = []
    rows += [("aws", n, m) for n, m in c.aws_instance_types.items()]
    rows += [("gcp", n, m) for n, m in c.gcp_machine_types.items()]
    return rows


# --- the tables as shipped -------------------------------------------------------------


def test_catalog_is_cached() -> None:
    assert catalog() is catalog()


@pytest.mark.parametrize("name", TABLES)
def test_every_table_is_dated_and_sourced(name: str) -> None:
    table = raw(name)
    as_of = dt.date.fromisoformat(str(table["asOf"]))
    assert dt.date(2026, 1, 1) <= as_of <= dt.date(2027, 12, 31)
    assert table["sources"] and all(isinstance(s, str) and s.strip() for s in table["sources"])


def test_as_of_is_a_date(c: Catalog) -> None:
    assert type(c.as_of) is dt.date
    assert c.as_of == dt.date(2026, 11, 28)


def test_regions_have_their_own_zones(c: Catalog) -> None:
    for regions in (c.aws_regions, c.gcp_regions):
        for region, zones in regions.items():
            assert zones, region
            assert len(set(zones)) == len(zones), region
            for zone in zones:
                assert re.fullmatch(rf"{re.escape(region)}-?[a-z]", zone), (region, zone)


def test_required_regions_present(c: Catalog) -> None:
    assert {
        "us-east-1",
        "us-east-2",
        "us-west-2",
        "eu-west-1",
        "eu-central-1",
        "ap-northeast-1",
        "ap-southeast-1",
    } <= set(c.aws_regions)
    assert {
        "us-central1",
        "us-east1",
        "us-east4",
        "us-east5",
        "us-west1",
        "us-west4",
        "europe-west4",
        "asia-northeast1",
        "asia-southeast1",
    } <= set(c.gcp_regions)
    assert "us-east-1e" not in c.aws_regions["us-east-1"]
    assert c.gcp_regions["us-central1"] == [
        "us-central1-a",
        "us-central1-b",
        "us-central1-c",
        "us-central1-f",
    ]


def test_every_machine_accelerator_is_known(c: Catalog) -> None:
    for cloud, name, m in all_machines(c):
        if m.accelerator is None:
            assert m.accelerator_count == 0, (cloud, name)
        else:
            assert m.accelerator in c.accelerators, (cloud, name)
            assert m.accelerator_count >= 1, (cloud, name)


def test_every_machine_region_is_in_regions_yaml(c: Catalog) -> None:
    for cloud, name, m in all_machines(c):
        known = c.aws_regions if cloud == "aws" else c.gcp_regions
        if m.accelerator is None:
            assert m.regions is None, (cloud, name)  # CPU types: everywhere
        else:
            assert m.regions, (cloud, name)
            assert set(m.regions) <= set(known), (cloud, name, set(m.regions) - set(known))
            assert len(set(m.regions)) == len(m.regions), (cloud, name)


def test_gpu_machines_carry_the_gke_accelerator_type(c: Catalog) -> None:
    gke_types = {
        "L4": "nvidia-l4",
        "A100-40GB": "nvidia-tesla-a100",
        "A100-80GB": "nvidia-a100-80gb",
        "H200": "nvidia-h200-141gb",
    }
    for name, m in c.gcp_machine_types.items():
        if m.accelerator in gke_types:
            assert m.gke_accelerator_type == gke_types[m.accelerator], name
    assert c.gcp_machine_types["a3-highgpu-8g"].gke_accelerator_type == "nvidia-h100-80gb"
    assert c.gcp_machine_types["a3-megagpu-8g"].gke_accelerator_type == "nvidia-h100-mega-80gb"


def test_every_tpu_topology_is_a_whole_number_of_machines(c: Catalog) -> None:
    tpu_machines = {n: m for n, m in c.gcp_machine_types.items() if m.tpu_topologies}
    assert set(tpu_machines) == {
        "ct5lp-hightpu-1t",
        "ct5lp-hightpu-4t",
        "ct5lp-hightpu-8t",
        "ct5p-hightpu-4t",
        "ct6e-standard-1t",
        "ct6e-standard-4t",
        "ct6e-standard-8t",
    }
    for name, m in tpu_machines.items():
        assert m.accelerator is not None and c.accelerators[m.accelerator].vendor == "google"
        assert len(set(m.tpu_topologies)) == len(m.tpu_topologies), name
        for topology in m.tpu_topologies:
            chips = tpu_topology_chips(topology)
            assert chips >= m.accelerator_count and chips % m.accelerator_count == 0, (
                name,
                topology,
            )


def test_tpu_topologies_match_gke_docs(c: Catalog) -> None:
    t = {n: m.tpu_topologies for n, m in c.gcp_machine_types.items()}
    assert t["ct5lp-hightpu-1t"] == ["1x1"]
    assert t["ct5lp-hightpu-8t"] == ["2x4"]
    assert t["ct5lp-hightpu-4t"] == ["2x2", "2x4", "4x4", "4x8", "8x8", "8x16", "16x16"]
    assert t["ct6e-standard-1t"] == ["1x1"]
    assert t["ct6e-standard-8t"] == ["2x4"]
    assert t["ct6e-standard-4t"] == ["2x2", "2x4", "4x4", "4x8", "8x8", "8x16", "16x16"]
    assert t["ct5p-hightpu-4t"][:5] == ["2x2x1", "2x2x2", "2x2x4", "2x4x4", "4x4x4"]


def test_gpu_machines_have_no_tpu_topologies(c: Catalog) -> None:
    for name, m in c.gcp_machine_types.items():
        if m.accelerator is None or c.accelerators[m.accelerator].vendor != "google":
            assert m.tpu_topologies == [], name


@pytest.mark.parametrize(
    ("topology", "chips"),
    [("1x1", 1), ("2x2", 4), ("2x4", 8), ("16x16", 256), ("2x2x1", 4), ("2x2x4", 16), ("16x16x24", 6144)],
)
def test_tpu_topology_chips(topology: str, chips: int) -> None:
    assert tpu_topology_chips(topology) == chips


@pytest.mark.parametrize("bad", ["", "4", "2x", "x2", "2x0", "2*2", "2x2x2x2", "axb", "-2x2"])
def test_tpu_topology_chips_rejects_malformed(bad: str) -> None:
    with pytest.raises(ValueError):
        tpu_topology_chips(bad)


def test_machine_lookup(c: Catalog) -> None:
    p5 = c.machine("aws", "p5.48xlarge")
    assert isinstance(p5, AwsInstanceType)
    assert (p5.vcpus, p5.memory_gib, p5.accelerator, p5.accelerator_count) == (192, 2048, "H100", 8)
    assert p5.local_nvme_gib == 30400
    g2 = c.machine("gcp", "g2-standard-24")
    assert isinstance(g2, GcpMachineType)
    assert (g2.accelerator, g2.accelerator_count) == ("L4", 2)
    assert c.machine("aws", "g2-standard-24") is None
    assert c.machine("gcp", "no-such-type") is None
    with pytest.raises(ValueError):
        c.machine("azure", "p5.48xlarge")


def test_instance_shapes_from_the_brief(c: Catalog) -> None:
    expect_aws = {
        "p5.4xlarge": ("H100", 1),
        "p5e.48xlarge": ("H200", 8),
        "p5en.48xlarge": ("H200", 8),
        "p4d.24xlarge": ("A100-40GB", 8),
        "p4de.24xlarge": ("A100-80GB", 8),
        "g6e.xlarge": ("L40S", 1),
        "g6e.12xlarge": ("L40S", 4),
        "g6e.48xlarge": ("L40S", 8),
        "g6.xlarge": ("L4", 1),
        "g6.12xlarge": ("L4", 4),
        "g6.48xlarge": ("L4", 8),
        "g5.xlarge": ("A10G", 1),
        "g5.12xlarge": ("A10G", 4),
        "g5.48xlarge": ("A10G", 8),
        "m7i.large": (None, 0),
        "t3.medium": (None, 0),
    }
    for name, shape in expect_aws.items():
        m = c.aws_instance_types[name]
        assert (m.accelerator, m.accelerator_count) == shape, name
    l4_counts = {
        f"g2-standard-{n}": k
        for n, k in [(4, 1), (8, 1), (12, 1), (16, 1), (24, 2), (32, 1), (48, 4), (96, 8)]
    }
    for name, count in l4_counts.items():
        assert c.gcp_machine_types[name].accelerator_count == count, name


def test_accelerator_memory(c: Catalog) -> None:
    mem = {k: a.memory_gib for k, a in c.accelerators.items()}
    assert mem["H100"] == 80 and mem["H200"] == 141
    assert mem["A100-40GB"] == 40 and mem["A100-80GB"] == 80
    assert mem["L4"] == 24 and mem["tpu-v6e"] == 32 and mem["tpu-v5p"] == 95
    for machine in (c.aws_instance_types["p5en.48xlarge"], c.aws_instance_types["p4d.24xlarge"]):
        assert machine.accelerator is not None
        total = machine.accelerator_count * mem[machine.accelerator]
        assert total == {"H200": 1128, "A100-40GB": 320}[machine.accelerator]


def test_models_weights_are_positive_and_ordered(c: Catalog) -> None:
    required = {
        "DeepSeek-R1-Distill-Qwen-1.5B",
        "DeepSeek-R1-Distill-Qwen-7B",
        "DeepSeek-R1-Distill-Qwen-14B",
        "DeepSeek-R1-Distill-Qwen-32B",
        "DeepSeek-R1-Distill-Llama-8B",
        "DeepSeek-R1-Distill-Llama-70B",
        "DeepSeek-V3",
        "DeepSeek-R1",
        "DeepSeek-V2-Lite-Chat",
    }
    assert required <= set(c.models)
    for name, m in c.models.items():
        w = m.weights_gib
        assert set(w) == set(PRECISIONS), name
        assert all(v > 0 for v in w.values()), name
        assert w["bf16"] > w["fp8"] > w["int4"], name
        assert m.hf_id.startswith("deepseek-ai/"), name
        assert 0 < m.kv_headroom <= 1 and m.max_context >= 4096 and m.params_b > 0, name


def test_dense_model_weights_follow_the_stated_formula(c: Catalog) -> None:
    # bf16 = params x 2 bytes; keeps hand-edited numbers honest. V3/R1 ship in fp8 instead.
    for name, m in c.models.items():
        if name in ("DeepSeek-V3", "DeepSeek-R1"):
            continue
        assert m.weights_gib["bf16"] == pytest.approx(m.params_b * 2e9 / 2**30, abs=0.06), name
        assert m.weights_gib["fp8"] == pytest.approx(m.params_b * 1e9 / 2**30, abs=0.06), name


def test_v3_fp8_is_the_published_checkpoint_size(c: Catalog) -> None:
    v3 = c.models["DeepSeek-V3"]
    assert v3.params_b == 671
    assert 620 <= v3.weights_gib["fp8"] <= 660


def test_eks_versions(c: Catalog) -> None:
    assert {"1.31", "1.32", "1.33", "1.34", "1.35"} <= set(c.eks_versions)
    for version, end in c.eks_versions.items():
        assert re.fullmatch(r"1\.\d+", version), version
        assert type(end) is dt.date
    ordered = sorted(c.eks_versions, key=lambda v: int(v.split(".")[1]))
    ends = [c.eks_versions[v] for v in ordered]
    assert ends == sorted(ends), "later minors must leave standard support later"
    assert c.eks_versions["1.34"] == dt.date(2026, 12, 2)


def test_eks_addons_are_pinned_for_supported_versions(c: Catalog) -> None:
    assert {"1.33", "1.34", "1.35"} <= set(c.eks_addons)
    assert set(c.eks_addons) <= set(c.eks_versions)
    for version, addons in c.eks_addons.items():
        assert set(addons) == {
            "vpc-cni",
            "kube-proxy",
            "coredns",
            "eks-pod-identity-agent",
            "amazon-cloudwatch-observability",
            "aws-ebs-csi-driver",
        }, version
        for name, pinned in addons.items():
            assert re.fullmatch(r"v\d+\.\d+\.\d+-eksbuild\.\d+", pinned), (version, name, pinned)
        assert addons["kube-proxy"].startswith(f"v{version}."), version
    assert c.eks_addons["1.35"]["coredns"] == "v1.13.2-eksbuild.1"


def test_eks_addon_rows_keep_their_provenance() -> None:
    rows = raw("kubernetes.yaml")["eksAddons"]
    assert all(row.get("note") for row in rows.values())
    assert "user guide" in rows["1.33"]["note"]


def test_every_addon_release_is_exact_sourced_and_supports_the_stacks_eks_versions(c: Catalog) -> None:
    assert set(c.addons) == {
        "nvidia-device-plugin",
        "cluster-autoscaler",
        "aws-load-balancer-controller",
        "metrics-server",
        "keda",
        "external-secrets",
        "istio-base",
        "istiod",
        "istio-cni",
        "ztunnel",
        "istio-ingress",
    }
    for name, addon in c.addons.items():
        assert addon.repository.startswith("https://"), name
        for release in addon.releases:
            assert re.fullmatch(r"\d+\.\d+\.\d+", release.version), (name, release.version)
            assert set(release.tags) == set(addon.images), name
            assert all(tag != "latest" for tag in release.tags.values())
            assert "github.com" in release.source or "https://" in release.source, name
        aws = "aws" in addon.clouds
        for version in c.eks_addons if aws else ():
            # Every EKS version a stack may ask for has a release of every EKS add-on.
            assert addon.release_for(version) is not None, (name, version)


def test_the_addon_release_follows_the_kubernetes_minor(c: Catalog) -> None:
    autoscaler = c.addons["cluster-autoscaler"]
    tags = {v: autoscaler.release_for(v).tags["autoscaler"] for v in ("1.33", "1.34", "1.35")}  # type: ignore[union-attr]
    assert tags == {"1.33": "v1.33.6", "1.34": "v1.34.5", "1.35": "v1.35.2"}
    assert autoscaler.release_for("1.36") is None
    eso = c.addons["external-secrets"]
    assert eso.release_for("1.35") is eso.releases[0], "the newest release that supports the version"
    assert c.addons["keda"].release_for("1.32") is None
    assert c.addons["keda"].supported() == "1.33-1.35"
    assert c.addons["metrics-server"].release_for("1.99") is not None, "a floor only: 1.31+"
    assert c.addons["metrics-server"].supported() == "1.31+"


def test_tpu_zones_are_zones_of_their_region(c: Catalog) -> None:
    tpus = {name: a for name, a in c.accelerators.items() if a.vendor == "google"}
    assert set(tpus) == {"tpu-v5e", "tpu-v5p", "tpu-v6e"}
    for name, tpu in tpus.items():
        assert tpu.zones, name
        for region, zones in tpu.zones.items():
            assert set(zones) <= set(c.gcp_regions[region]), (name, region)
    for name, a in c.accelerators.items():
        if a.vendor == "aws":
            assert a.zones is None, name  # zones are GCP zones; AWS offerings are per instance type


def test_tpu_zones_lookup(c: Catalog) -> None:
    assert c.tpu_zones("tpu-v6e", "us-central1") == ("us-central1-b",)
    assert c.tpu_zones("tpu-v6e", "us-east5") == ("us-east5-a", "us-east5-b")
    assert c.tpu_zones("tpu-v5p", "us-central1") == ("us-central1-a",)
    assert c.tpu_zones("tpu-v5e", "europe-west4") == ()  # offered there, zones not catalogued
    assert c.tpu_zones("H100", "us-central1") == ()
    assert c.tpu_zones("tpu-v6e", "mars-north1") == ()


def test_boot_disks(c: Catalog) -> None:
    disks = {name: m.boot_disk for name, m in c.gcp_machine_types.items()}
    assert set(disks.values()) - {None} <= set(BOOT_DISK_TYPES)
    assert disks["a3-ultragpu-8g"] == "hyperdisk-balanced"
    assert disks["a3-highgpu-8g"] is None
    for name, m in c.gcp_machine_types.items():
        if m.tpu_topologies:
            assert m.boot_disk is not None, name
        if name.startswith("ct6e-"):
            assert m.boot_disk == "hyperdisk-balanced", name
        if name.startswith(("ct5lp-", "ct5p-")):
            assert m.boot_disk == "pd-balanced", name


def test_every_gcp_region_has_a_nearest_aws_region(c: Catalog) -> None:
    assert set(c.nearest_aws_region) == set(c.gcp_regions)
    latency_only = set(raw("regions.yaml")["awsLatencyOnly"])
    for gcp, aws in c.nearest_aws_region.items():
        assert aws in c.aws_regions or aws in latency_only, (gcp, aws)
    assert not latency_only & set(c.aws_regions)
    assert c.nearest_aws_region["us-central1"] == "us-east-2"
    assert c.nearest_aws_region["europe-west4"] == "eu-central-1"


def test_gke_release_channels(c: Catalog) -> None:
    assert {"RAPID", "REGULAR", "STABLE"} <= set(c.gke_release_channels)
    assert all(ch == ch.upper() for ch in c.gke_release_channels)


# --- model fit ------------------------------------------------------------------------------


def test_small_distill_fits_one_l4() -> None:
    fit = model_fit("DeepSeek-R1-Distill-Qwen-7B", "bf16", "L4", 1)
    assert fit.fits
    assert fit.available_gib == 24
    assert fit.weights_gib == catalog().models["DeepSeek-R1-Distill-Qwen-7B"].weights_gib["bf16"]
    assert fit.needed_gib == pytest.approx(fit.weights_gib * 1.2)


def test_v3_fp8_does_not_fit_p4d(c: Catalog) -> None:
    p4d = c.aws_instance_types["p4d.24xlarge"]
    assert p4d.accelerator is not None
    fit = model_fit("DeepSeek-V3", "fp8", p4d.accelerator, p4d.accelerator_count)
    assert fit.available_gib == 320
    assert not fit.fits


def test_v3_fp8_fits_p5en(c: Catalog) -> None:
    p5en = c.aws_instance_types["p5en.48xlarge"]
    assert p5en.accelerator is not None
    fit = model_fit("DeepSeek-V3", "fp8", p5en.accelerator, p5en.accelerator_count)
    assert fit.available_gib == 1128
    assert fit.fits


def test_fit_is_monotonic_in_gpus() -> None:
    fits = [model_fit("DeepSeek-R1-Distill-Llama-70B", "bf16", "H100", n).fits for n in range(1, 9)]
    assert fits[0] is False and fits[-1] is True
    assert fits == sorted(fits)  # once it fits, more GPUs keep it fitting


def test_fit_boundary_is_inclusive() -> None:
    fit = model_fit("DeepSeek-R1-Distill-Qwen-7B", "bf16", "L4", 1)
    assert fit.fits == (fit.needed_gib <= fit.available_gib)


@pytest.mark.parametrize(
    "args",
    [
        ("No-Such-Model", "bf16", "L4", 1),
        ("DeepSeek-V3", "fp4", "H200", 8),
        ("DeepSeek-V3", "fp8", "B300", 8),
        ("DeepSeek-V3", "fp8", "H200", 0),
    ],
)
def test_fit_rejects_bad_arguments(args: tuple[str, str, str, int]) -> None:
    with pytest.raises(ValueError):
        model_fit(*args)


def test_data_store_classes_the_stacks_use_exist(c: Catalog) -> None:
    assert {"db.t4g.medium", "db.r6g.large", "db.r6g.xlarge", "db.serverless"} <= set(
        c.aurora_postgresql_classes
    )
    assert {"cache.t4g.small", "cache.r7g.large", "cache.r7g.xlarge"} <= set(c.elasticache_node_types)
    assert "db.banana" not in c.aurora_postgresql_classes
    assert "cache.t2.micro" not in c.elasticache_node_types  # previous generation: no new clusters
    assert set(c.aurora_burstable_families) == {"db.t4g", "db.t3"}


@pytest.mark.parametrize(
    ("tier", "fragment"),
    [
        ("db-custom-4-16384", None),
        ("db-custom-1-3840", None),
        ("db-perf-optimized-N-8", None),
        ("db-f1-micro", None),
        ("db-custom-3-12288", "3 vCPUs"),
        ("db-custom-98-65536", "98 vCPUs"),
        ("db-custom-4-16000", "multiple of 256"),
        ("db-custom-4-2048", "at least 3840"),
        ("db-custom-2-16384", "at most 13312"),
        ("db-perf-optimized-N-6", "6 vCPUs"),
        ("db-n1-standard-2", "not a Cloud SQL for PostgreSQL tier"),
    ],
)
def test_cloud_sql_tiers_follow_the_naming_rule(c: Catalog, tier: str, fragment: str | None) -> None:
    problem = c.cloud_sql_tiers.problem(tier)
    if fragment is None:
        assert problem is None, problem
    else:
        assert problem is not None and fragment in problem, problem


def test_aurora_versions_are_dated_rows_with_a_global_database_floor(c: Catalog) -> None:
    versions = c.postgres_versions
    assert versions.aurora and set(versions.aurora_global) <= set(versions.aurora)
    assert list(versions.aurora) == sorted(
        versions.aurora, key=lambda v: tuple(map(int, v.split("."))), reverse=True
    )
    for version in versions.aurora:
        assert re.fullmatch(r"\d{2}\.\d+", version)
    # 16.6, the default until the table existed, no longer takes new clusters.
    assert "16.6" not in versions.aurora
    assert versions.aurora_problem("16.6", global_database=False)
    assert versions.aurora_problem("16.10", global_database=True) is None
    assert set(versions.aurora_uncertain) <= set(versions.aurora)


def test_cloud_sql_majors_are_what_the_admin_api_names(c: Catalog) -> None:
    majors = c.postgres_versions.cloud_sql_majors
    assert {"16", "17"} <= set(majors) and "9" not in majors
    assert c.postgres_versions.cloud_sql_problem("16.10") is None
    assert "POSTGRES_19" in (c.postgres_versions.cloud_sql_problem("19.1") or "")


def test_limits(c: Catalog) -> None:
    assert c.eks_max_nodes_per_node_group == 450
    assert c.gke_max_nodes_per_pool_zone == 1000
    assert c.gke_max_nodes_per_cluster == 15000
    assert {1, 7, 30, 90, 365, 3653} <= c.log_retention_days
    assert 0 not in c.log_retention_days and 10 not in c.log_retention_days


def test_what_a_machine_carries_is_decided_by_the_catalog(c: Catalog) -> None:
    assert c.hardware("aws", "m7i.large") is not None
    assert c.hardware("aws", "m7i.large").kind is DeviceKind.CPU  # type: ignore[union-attr]
    h200 = c.hardware("aws", "p5en.48xlarge")
    assert h200 is not None and (h200.kind, h200.vendor, h200.count) == (DeviceKind.GPU, "nvidia", 8)
    tpu = c.hardware("gcp", "ct6e-standard-4t")
    assert tpu is not None and (tpu.kind, tpu.vendor) == (DeviceKind.TPU, "google")
    trainium = c.hardware("aws", "trn1.32xlarge")
    assert trainium is not None and (trainium.kind, trainium.vendor) == (DeviceKind.NEURON, "aws")
    assert c.hardware("aws", "banana.large") is None


# --- the loader rejects broken data ----------------------------------------------------------


def test_shipped_tables_build() -> None:
    assert build(raw_tables()) == catalog()


def _break_machine_accelerator(t: dict[str, Any]) -> None:
    t["machines.yaml"]["aws"]["g6.xlarge"]["accelerator"] = "L5"


def _break_machine_region(t: dict[str, Any]) -> None:
    t["machines.yaml"]["gcp"]["g2-standard-4"]["regions"].append("mars-north1")


def _break_tpu_topology(t: dict[str, Any]) -> None:
    t["machines.yaml"]["gcp"]["ct5lp-hightpu-8t"]["tpuTopologies"] = ["2x2"]


def _drop_tpu_topologies(t: dict[str, Any]) -> None:
    del t["machines.yaml"]["gcp"]["ct6e-standard-4t"]["tpuTopologies"]


def _break_weight_order(t: dict[str, Any]) -> None:
    t["models.yaml"]["models"]["DeepSeek-V3"]["weightsGiB"]["int4"] = 700.0


def _drop_precision(t: dict[str, Any]) -> None:
    del t["models.yaml"]["models"]["DeepSeek-R1"]["weightsGiB"]["int4"]


def _extra_field(t: dict[str, Any]) -> None:
    t["machines.yaml"]["accelerators"]["H100"]["memoryGb"] = 80


def _count_without_accelerator(t: dict[str, Any]) -> None:
    t["machines.yaml"]["aws"]["m7i.large"]["acceleratorCount"] = 1


def _gpu_without_gke_type(t: dict[str, Any]) -> None:
    del t["machines.yaml"]["gcp"]["a3-highgpu-8g"]["gkeAcceleratorType"]


def _bad_date(t: dict[str, Any]) -> None:
    t["kubernetes.yaml"]["asOf"] = "late 2026"


def _no_sources(t: dict[str, Any]) -> None:
    t["regions.yaml"]["sources"] = []


def _unquoted_version(t: dict[str, Any]) -> None:
    # YAML would read an unquoted 1.30 as the float 1.3; that must not load as a version.
    t["kubernetes.yaml"]["eks"][1.3] = t["kubernetes.yaml"]["eks"].pop("1.31")


def _addons_for_unknown_version(t: dict[str, Any]) -> None:
    t["kubernetes.yaml"]["eksAddons"]["1.30"] = copy.deepcopy(t["kubernetes.yaml"]["eksAddons"]["1.33"])
    t["kubernetes.yaml"]["eksAddons"]["1.30"]["kube-proxy"] = "v1.30.0-eksbuild.1"


def _addon_missing(t: dict[str, Any]) -> None:
    del t["kubernetes.yaml"]["eksAddons"]["1.34"]["coredns"]


def _addon_misspelt(t: dict[str, Any]) -> None:
    t["kubernetes.yaml"]["eksAddons"]["1.34"]["aws-vpc-cni"] = t["kubernetes.yaml"]["eksAddons"]["1.34"].pop(
        "vpc-cni"
    )


def _kube_proxy_for_another_version(t: dict[str, Any]) -> None:
    t["kubernetes.yaml"]["eksAddons"]["1.35"]["kube-proxy"] = "v1.34.0-eksbuild.2"


def _tpu_zone_of_another_region(t: dict[str, Any]) -> None:
    t["machines.yaml"]["accelerators"]["tpu-v6e"]["zones"]["us-central1"] = ["us-east1-d"]


def _tpu_zones_of_unknown_region(t: dict[str, Any]) -> None:
    t["machines.yaml"]["accelerators"]["tpu-v5e"]["zones"]["us-south1"] = ["us-south1-a"]


def _tpu_zones_where_no_machine_has_it(t: dict[str, Any]) -> None:
    t["machines.yaml"]["accelerators"]["tpu-v5p"]["zones"]["us-west1"] = ["us-west1-a"]


def _tpu_without_zones(t: dict[str, Any]) -> None:
    del t["machines.yaml"]["accelerators"]["tpu-v5p"]["zones"]


def _gpu_with_zones(t: dict[str, Any]) -> None:
    t["machines.yaml"]["accelerators"]["H100"]["zones"] = {"us-central1": ["us-central1-a"]}


def _unknown_boot_disk(t: dict[str, Any]) -> None:
    t["machines.yaml"]["gcp"]["a3-ultragpu-8g"]["bootDisk"] = "pd-extreme"


def _tpu_machine_without_boot_disk(t: dict[str, Any]) -> None:
    del t["machines.yaml"]["gcp"]["ct5p-hightpu-4t"]["bootDisk"]


def _nearest_aws_region_unknown(t: dict[str, Any]) -> None:
    t["regions.yaml"]["gcp"]["us-west4"]["nearestAwsRegion"] = "us-west-9"


def _gcp_region_without_nearest_aws_region(t: dict[str, Any]) -> None:
    del t["regions.yaml"]["gcp"]["asia-southeast1"]["nearestAwsRegion"]


def _latency_only_region_also_deployable(t: dict[str, Any]) -> None:
    t["regions.yaml"]["awsLatencyOnly"].append("us-east-1")


def _aurora_family_sizes_repeat(t: dict[str, Any]) -> None:
    t["datastores.yaml"]["auroraPostgresql"]["families"]["db.r6g"].append("large")


def _burstable_family_unknown(t: dict[str, Any]) -> None:
    t["datastores.yaml"]["auroraPostgresql"]["burstable"].append("db.t2")


def _cache_family_without_sizes(t: dict[str, Any]) -> None:
    t["datastores.yaml"]["elasticache"]["families"]["cache.r7g"] = []


def _aurora_version_not_major_minor(t: dict[str, Any]) -> None:
    t["postgres.yaml"]["auroraPostgresql"]["versions"]["16"] = {}


def _global_floor_of_another_major(t: dict[str, Any]) -> None:
    t["postgres.yaml"]["auroraPostgresql"]["globalDatabaseFrom"]["16"] = "15.2"


def _aurora_row_unknown_field(t: dict[str, Any]) -> None:
    t["postgres.yaml"]["auroraPostgresql"]["versions"]["16.10"]["global"] = True


def _cloud_sql_major_spelt_as_enum(t: dict[str, Any]) -> None:
    t["postgres.yaml"]["cloudSql"]["majors"].append("POSTGRES_16")


def _no_aurora_versions(t: dict[str, Any]) -> None:
    t["postgres.yaml"]["auroraPostgresql"]["versions"] = {}


def _retention_list_empty(t: dict[str, Any]) -> None:
    t["limits.yaml"]["cloudwatchLogs"]["retentionDays"] = []


def _node_group_limit_zero(t: dict[str, Any]) -> None:
    t["limits.yaml"]["eks"]["maxNodesPerManagedNodeGroup"] = 0


def _unknown_vendor(t: dict[str, Any]) -> None:
    t["machines.yaml"]["accelerators"]["Trainium"]["vendor"] = "intel"


def _latency_only_region_unused(t: dict[str, Any]) -> None:
    t["regions.yaml"]["awsLatencyOnly"].append("sa-east-1")


def _addon_chart_range(t: dict[str, Any]) -> None:
    t["addons.yaml"]["addons"]["keda"]["releases"][0]["version"] = "~2.20"


def _addon_tag_latest(t: dict[str, Any]) -> None:
    t["addons.yaml"]["addons"]["keda"]["releases"][0]["tags"]["operator"] = "latest"


def _addon_image_without_tag(t: dict[str, Any]) -> None:
    del t["addons.yaml"]["addons"]["keda"]["releases"][0]["tags"]["webhooks"]


def _addon_image_with_its_own_tag(t: dict[str, Any]) -> None:
    t["addons.yaml"]["addons"]["metrics-server"]["images"]["server"] += ":v0.8.1"


def _addon_range_upside_down(t: dict[str, Any]) -> None:
    t["addons.yaml"]["addons"]["keda"]["releases"][0]["kubernetes"] = {"min": "1.35", "max": "1.33"}


def _addon_range_not_a_minor(t: dict[str, Any]) -> None:
    t["addons.yaml"]["addons"]["keda"]["releases"][0]["kubernetes"] = {"min": "v1"}


def _addon_releases_oldest_first(t: dict[str, Any]) -> None:
    t["addons.yaml"]["addons"]["external-secrets"]["releases"].reverse()


def _addon_repository_http(t: dict[str, Any]) -> None:
    t["addons.yaml"]["addons"]["keda"]["repository"] = "http://kedacore.github.io/charts"


def _addon_unknown_cloud(t: dict[str, Any]) -> None:
    t["addons.yaml"]["addons"]["keda"]["clouds"] = ["azure"]


def _addon_without_source(t: dict[str, Any]) -> None:
    t["addons.yaml"]["addons"]["keda"]["releases"][0]["source"] = ""


@pytest.mark.parametrize(
    "breakage",
    [
        _break_machine_accelerator,
        _break_machine_region,
        _break_tpu_topology,
        _drop_tpu_topologies,
        _break_weight_order,
        _drop_precision,
        _extra_field,
        _count_without_accelerator,
        _gpu_without_gke_type,
        _bad_date,
        _no_sources,
        _unquoted_version,
        _addons_for_unknown_version,
        _addon_missing,
        _addon_misspelt,
        _kube_proxy_for_another_version,
        _tpu_zone_of_another_region,
        _tpu_zones_of_unknown_region,
        _tpu_zones_where_no_machine_has_it,
        _tpu_without_zones,
        _gpu_with_zones,
        _unknown_boot_disk,
        _tpu_machine_without_boot_disk,
        _nearest_aws_region_unknown,
        _gcp_region_without_nearest_aws_region,
        _latency_only_region_also_deployable,
        _latency_only_region_unused,
        _aurora_family_sizes_repeat,
        _burstable_family_unknown,
        _cache_family_without_sizes,
        _retention_list_empty,
        _aurora_version_not_major_minor,
        _global_floor_of_another_major,
        _aurora_row_unknown_field,
        _cloud_sql_major_spelt_as_enum,
        _no_aurora_versions,
        _node_group_limit_zero,
        _unknown_vendor,
        _addon_chart_range,
        _addon_tag_latest,
        _addon_image_without_tag,
        _addon_image_with_its_own_tag,
        _addon_range_upside_down,
        _addon_range_not_a_minor,
        _addon_releases_oldest_first,
        _addon_repository_http,
        _addon_unknown_cloud,
        _addon_without_source,
    ],
)
def test_loader_rejects(breakage: Callable[[dict[str, Any]], None]) -> None:
    tables = copy.deepcopy(raw_tables())
    breakage(tables)
    with pytest.raises(ValidationError):
        build(tables)
