"""In-cluster admission: the serving namespaces refuse privileged, unpinned, unlimited and host-namespace pods.

The CEL expressions are evaluated offline with cel-python (a pure-Python CEL evaluator), on pods
built to break one rule each and on the pod templates the program itself declares.
"""

from __future__ import annotations

import copy
from typing import Any

import celpy
import pytest

from inferstack.engine import Graph
from infra.k8s.admission import CONTAINERS, POLICY_NAME, PRIVILEGED_NAMESPACES, RULES, SERVING_NAMESPACES

POLICY = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
BINDING = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"

_ENV = celpy.Environment()


def _failed(pod: dict[str, Any]) -> set[str]:
    """The rules a pod breaks, as the API server would evaluate the policy's validations."""
    activation: dict[str, Any] = {"object": celpy.json_to_cel(pod)}
    containers = _ENV.program(_ENV.compile(CONTAINERS)).evaluate(activation)
    variables = celpy.celtypes.MapType({celpy.celtypes.StringType("containers"): containers})
    failed: set[str] = set()
    for rule in RULES:
        result = _ENV.program(_ENV.compile(rule.expression)).evaluate({**activation, "variables": variables})
        # An evaluation error is a refusal too (failurePolicy Fail), so only a true bool admits.
        if not (isinstance(result, celpy.celtypes.BoolType) and bool(result)):
            failed.add(rule.name)
    return failed


GOOD: dict[str, Any] = {
    "spec": {
        "containers": [
            {
                "name": "server",
                "image": "vllm/vllm-openai:v0.27.1",
                "resources": {"limits": {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": "1"}},
                "securityContext": {"privileged": False, "runAsNonRoot": True},
            }
        ],
        "initContainers": [{"name": "init", "image": "registry.example:5000/tools@sha256:" + "a" * 64}],
    }
}


def _with(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    pod = copy.deepcopy(GOOD)
    here: Any = pod
    for key in path[:-1]:
        here = here[key]
    here[path[-1]] = value
    return pod


def test_a_well_formed_pod_is_admitted() -> None:
    assert _failed(GOOD) == set()


@pytest.mark.parametrize(
    ("pod", "rule"),
    [
        (_with(("spec", "containers", 0, "securityContext", "privileged"), True), "no-privileged"),
        (_with(("spec", "initContainers", 0, "securityContext"), {"privileged": True}), "no-privileged"),
        (_with(("spec", "containers", 0, "image"), "vllm/vllm-openai:latest"), "pinned-image"),
        (_with(("spec", "containers", 0, "image"), "vllm/vllm-openai"), "pinned-image"),
        (_with(("spec", "containers", 0, "image"), "registry.example:5000/vllm"), "pinned-image"),
        (_with(("spec", "initContainers", 0, "image"), "busybox"), "pinned-image"),
        (_with(("spec", "containers", 0, "resources"), {}), "limits"),
        (_with(("spec", "containers", 0, "resources", "limits"), {"cpu": "8"}), "limits"),
        (_with(("spec", "containers", 0, "resources", "limits"), {"memory": "1Gi"}), "limits"),
        (_with(("spec", "hostNetwork"), True), "no-host-namespaces"),
        (_with(("spec", "hostPID"), True), "no-host-namespaces"),
        (_with(("spec", "hostIPC"), True), "no-host-namespaces"),
    ],
)
def test_each_rule_refuses_its_pod(pod: dict[str, Any], rule: str) -> None:
    assert _failed(pod) == {rule}


def test_an_ephemeral_debug_container_is_held_to_the_rules() -> None:
    pod = _with(("spec", "ephemeralContainers"), [{"name": "debug", "image": "busybox:latest"}])
    assert _failed(pod) == {"pinned-image"}


@pytest.mark.parametrize("stack", ["dev", "prod", "onprem"])
def test_the_programs_own_pods_are_admitted(stack: str, request: pytest.FixtureRequest) -> None:
    graph: Graph = request.getfixturevalue(stack)
    pods = [
        d.inputs["spec"]["template"]
        for d in graph.of_type(DEPLOYMENT)
        if d.inputs["metadata"].get("namespace") in SERVING_NAMESPACES
    ]
    assert pods
    for pod in pods:
        assert _failed(pod) == set()


def test_prod_denies_and_dev_only_warns(prod: Graph, dev: Graph) -> None:
    for graph, actions in ((prod, ["Deny"]), (dev, ["Warn", "Audit"])):
        bindings = graph.of_type(BINDING)
        clusters = {p.name for p in graph.resources if p.type == "pulumi:providers:kubernetes"}
        assert len(bindings) == len(clusters) > 0
        for binding in bindings:
            spec = binding.inputs["spec"]
            assert spec["policyName"] == POLICY_NAME
            assert spec["validationActions"] == actions
            selector = spec["matchResources"]["namespaceSelector"]["matchExpressions"]
            assert selector == [
                {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["inference", "serving"]}
            ]


def test_the_policy_matches_every_pod_and_fails_closed(prod: Graph) -> None:
    policies = prod.of_type(POLICY)
    assert policies
    for policy in policies:
        spec = policy.inputs["spec"]
        assert spec["failurePolicy"] == "Fail"
        rules = spec["matchConstraints"]["resourceRules"]
        assert rules == [
            {
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "operations": ["CREATE", "UPDATE"],
                "resources": ["pods", "pods/ephemeralcontainers"],
            }
        ]
        assert [v["expression"] for v in spec["validations"]] == [r.expression for r in RULES]


def test_workloads_wait_for_the_policy(prod: Graph) -> None:
    """A pod admitted before the policy exists was never judged: the serving namespaces wait for it."""
    binding_urns = {b.urn for b in prod.of_type(BINDING)}
    servers = [d for d in prod.of_type(DEPLOYMENT) if d.inputs["metadata"].get("namespace") == "serving"]
    assert servers
    namespaces = [
        n for n in prod.of_type("kubernetes:core/v1:Namespace") if n.inputs["metadata"]["name"] == "serving"
    ]
    assert namespaces
    for namespace in namespaces:
        assert binding_urns & set(namespace.dependencies), namespace.name


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "onprem"])
def test_workload_namespaces_enforce_restricted_pod_security(
    stack: str, request: pytest.FixtureRequest
) -> None:
    graph: Graph = request.getfixturevalue(stack)
    namespaces = graph.of_type("kubernetes:core/v1:Namespace")
    assert namespaces
    for namespace in namespaces:
        name = namespace.inputs["metadata"]["name"]
        labels = namespace.inputs["metadata"].get("labels", {})
        if name in PRIVILEGED_NAMESPACES:
            continue
        assert labels.get("pod-security.kubernetes.io/enforce") == "restricted", name
