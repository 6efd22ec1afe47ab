"""Runs the Pulumi program offline, exactly as the Python language host runs it.

What the host does (pulumi-language-python-exec) and what this does the same way:
  - config: every stack value handed over as a string via ``set_all_config``, with the list of
    secret keys;
  - settings: project, stack, dry-run (a preview), a resource monitor and an engine;
  - the program: ``run_in_stack(lambda: runpy.run_path(main, run_name="__main__"))`` on a new
    event loop; runpy puts the ``main`` directory first on sys.path and nothing else is added.
The difference: the monitor is Pulumi's own MockMonitor, extended to record each registration
(type, name, URN, parent, provider, custom, camelCase inputs, dependencies, protect) and the
stack outputs, with mocked answers from one table (inferstack/mocks.py).

Each run happens in a fresh ``contextvars.Context``, so several stacks run in one process
without sharing the runtime's ambient state.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import runpy
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.config import set_all_config
from pulumi.runtime.proto import engine_pb2
from pulumi.runtime.settings import configure
from pulumi.runtime.stack import run_in_stack

from inferstack import mocks
from inferstack.project import Project, StackConfig, find_project, load_stack_config

_SECRET_SIG = rpc._special_sig_key  # "4dabf18193072939515e22adb298388d"
_SECRET = rpc._special_secret_sig
_RESOURCE = rpc._special_resource_sig
_UNKNOWN = rpc.UNKNOWN

# Only one program can own the process-wide sys.argv / sys.path dance at a time.
_RUN_LOCK = threading.Lock()


class ProgramError(Exception):
    """The program stopped; ``bad_input`` says whether it was the stack's fault (exit 2)."""

    def __init__(self, message: str, *, bad_input: bool, registered: int = 0):
        self.bad_input = bad_input
        self.registered = registered
        """Resources registered before the program stopped (0: nothing half-built)."""
        super().__init__(message)


@dataclass
class Resource:
    urn: str
    type: str
    name: str
    parent: str | None
    provider: str | None
    custom: bool
    inputs: dict[str, Any]
    dependencies: list[str]
    protect: bool
    ignore_changes: list[str] = field(default_factory=list)
    """Inputs whose changes Pulumi ignores for this resource (the ``ignoreChanges`` option)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "provider": self.provider,
            "custom": self.custom,
            "protect": self.protect,
            "ignoreChanges": self.ignore_changes,
            "inputs": self.inputs,
            "dependencies": self.dependencies,
        }


@dataclass(frozen=True)
class ProgramWarning:
    """What the program warned about while it ran (``pulumi.log.warn``), and on which resource."""

    message: str
    urn: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"message": self.message, "urn": self.urn}


@dataclass
class Graph:
    project: str
    stack: str
    source: str
    resources: list[Resource]
    outputs: dict[str, Any]
    warnings: list[ProgramWarning] = field(default_factory=list)
    seconds: float = 0.0
    config: StackConfig | None = None
    """The stack config the program ran with (None for a graph read back from a file)."""

    def by_urn(self) -> dict[str, Resource]:
        return {r.urn: r for r in self.resources}

    def of_type(self, token: str) -> list[Resource]:
        return [r for r in self.resources if r.type == token]

    def region_of(self, resource: Resource) -> str | None:
        """The region of the explicit provider a resource uses (or of its nearest ancestor's)."""
        if resource.type.startswith("pulumi:providers:"):
            return resource.inputs.get("region")
        index = self.by_urn()
        current: Resource | None = resource
        while current is not None:
            if current.provider and current.provider in index:
                inputs = index[current.provider].inputs
                return inputs.get("region") or inputs.get("zone")
            current = index.get(current.parent) if current.parent else None
        return None


def _plain(value: Any) -> Any:
    """Wire values as a reader wants them: secrets masked, unknowns marked, references by URN."""
    if isinstance(value, dict):
        sig = value.get(_SECRET_SIG)
        if sig == _SECRET:
            return "[secret]"
        if sig == _RESOURCE:
            return value.get("urn")
        if sig is not None:
            return f"[{sig}]"
        return {k: _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if value == _UNKNOWN:
        return "[unknown]"
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.startswith("[secret:"):
        return "[secret]"
    return value


def _provider_urn(ref: str) -> str | None:
    return ref.rsplit("::", 1)[0] if ref else None


def _computed_unknown(state: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    """A resource's state as a first preview has it: its inputs known, everything the cloud computes not."""
    out: dict[str, Any] = {}
    for key, value in state.items():
        if key not in inputs:
            out[key] = _UNKNOWN
        elif isinstance(value, dict) and isinstance(inputs[key], dict):
            out[key] = _computed_unknown(value, inputs[key])
        else:
            out[key] = inputs[key]
    return out


class _Mocks(pulumi_mocks.Mocks):
    def __init__(self, monitor: RecordingMonitor, *, new: bool = False):
        self.monitor = monitor
        self.new = new

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict]:
        region = self.monitor.region_for(args.provider or "", args.inputs)
        state = mocks.resource_outputs(args.typ, args.name, args.inputs, region)
        if args.typ.startswith("pulumi:providers:"):
            return f"{args.name}-provider-id", state
        if self.new:
            # A create in a preview: the provider echoes the inputs and leaves the id and every
            # computed output unknown (an ARN, an endpoint, a nested computed field alike).
            return "", _computed_unknown(state, dict(args.inputs))
        return mocks.resource_id(args.typ, args.name), state

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
        region = self.monitor.region_for(args.provider or "", {})
        try:
            return mocks.invoke(args.token, args.args, region), []
        except mocks.UnansweredInvoke as error:
            self.monitor.unanswered.append(error.token)
            raise


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """Pulumi's MockMonitor, keeping what the engine would be told about every resource."""

    def __init__(self, *, new: bool = False) -> None:
        super().__init__(_Mocks(self, new=new))
        self.records: dict[str, Resource] = {}
        self.stack_outputs: dict[str, Any] = {}
        self.unanswered: list[str] = []
        self._lock = threading.Lock()
        self._provider_regions: dict[str, str] = {}

    def region_for(self, provider_ref: str, inputs: dict[str, Any]) -> str:
        if "region" in inputs and isinstance(inputs["region"], str):
            return inputs["region"]
        return self._provider_regions.get(_provider_urn(provider_ref) or "", "global")

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        inputs = _plain(json_format.MessageToDict(request.object))
        record = Resource(
            urn=response.urn,
            type=request.type,
            name=request.name,
            parent=request.parent or None,
            provider=_provider_urn(request.provider),
            custom=bool(request.custom),
            inputs=inputs,
            dependencies=sorted(set(request.dependencies)),
            protect=bool(request.protect),
            ignore_changes=sorted(request.ignoreChanges),
        )
        with self._lock:
            self.records[record.urn] = record
            if request.type.startswith("pulumi:providers:") and isinstance(inputs.get("region"), str):
                self._provider_regions[record.urn] = inputs["region"]
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:
        if "::pulumi:pulumi:Stack::" in request.urn:
            self.stack_outputs = _plain(json_format.MessageToDict(request.outputs))
        return super().RegisterResourceOutputs(request)


class _RecordingEngine(pulumi_mocks.MockEngine):
    """Pulumi's MockEngine, keeping every warning and error the program logs with its resource's URN."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logger)
        self.warnings: list[ProgramWarning] = []

    def Log(self, request: Any) -> Any:
        if request.severity in (engine_pb2.WARNING, engine_pb2.ERROR):
            self.warnings.append(ProgramWarning(message=request.message, urn=request.urn or None))
        return super().Log(request)


def run_program(project: Project, stack: str, config: StackConfig, *, new: bool = False) -> Graph:
    """Run ``project.main`` under the mock runtime with ``config``; return the recorded graph."""
    from infra.settings import SettingsError  # the program's own error type for bad stack files

    monitor = RecordingMonitor(new=new)
    logger = logging.getLogger(f"inferstack.engine.{stack}")
    logger.propagate = False
    if not logger.handlers:  # the engine keeps the warnings; nothing goes to stderr behind the CLI's back
        logger.addHandler(logging.NullHandler())
    engine = _RecordingEngine(logger)

    def run() -> None:
        set_all_config(dict(config.values), sorted(config.secret_keys))
        configure(
            pulumi_mocks.MockSettings(
                monitor=monitor,
                monitor_features=set(monitor.GetDeploymentInfo(None).supportedFeatures),
                engine=engine,
                project=project.name,
                stack=stack,
                dry_run=True,
                organization="offline",
                root_directory=str(project.root),
                callbacks=None,
            )
        )

        def program() -> None:
            runpy.run_path(str(project.main), run_name="__main__")

        try:
            previous: asyncio.AbstractEventLoop | None = asyncio.get_event_loop_policy().get_event_loop()
        except RuntimeError:
            previous = None
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
        try:
            loop.run_until_complete(run_in_stack(program))
        finally:
            loop.close()
            # Leave the thread's loop as it was: callers (tests, set_mocks users) may rely on it.
            asyncio.set_event_loop(previous)

    started = time.perf_counter()
    with _RUN_LOCK:
        argv, environ_source = sys.argv[:], os.environ.get("INFERSTACK_CONFIG_SOURCE")
        sys.argv = [str(project.main)]
        os.environ["INFERSTACK_CONFIG_SOURCE"] = config.source
        try:
            contextvars.Context().run(run)
        except (SettingsError, pulumi.RunError) as error:
            # RunError is the program's one-line verdict on its input, as the language host prints it.
            raise ProgramError(str(error), bad_input=True, registered=len(monitor.records)) from None
        except mocks.UnansweredInvoke as error:
            raise ProgramError(str(error), bad_input=False, registered=len(monitor.records)) from None
        except Exception as error:
            if monitor.unanswered:
                message = str(mocks.UnansweredInvoke(monitor.unanswered[0]))
                raise ProgramError(message, bad_input=False, registered=len(monitor.records)) from None
            message = f"the program failed: {type(error).__name__}: {error}"
            raise ProgramError(message, bad_input=False, registered=len(monitor.records)) from error
        finally:
            sys.argv = argv
            if environ_source is None:
                os.environ.pop("INFERSTACK_CONFIG_SOURCE", None)
            else:
                os.environ["INFERSTACK_CONFIG_SOURCE"] = environ_source
    resources = sorted(monitor.records.values(), key=lambda r: r.urn)
    return Graph(
        project=project.name,
        stack=stack,
        source=config.source,
        resources=resources,
        outputs=monitor.stack_outputs,
        warnings=engine.warnings,
        seconds=time.perf_counter() - started,
        config=config,
    )


def plan_stack(
    stack: str, *, config_file: Path | None = None, project: Project | None = None, new: bool = False
) -> Graph:
    """The stack's graph; ``new``: as the first preview of an empty stack sees it (computed values unknown).

    By default every resource reads back the values the mocks compute for it (an ARN, an endpoint),
    which keeps the plan's figures readable. With ``new`` the engine answers a create as a preview
    does: inputs known, the id and every computed output unknown, so each value derived from another
    resource arrives as unknown. That is the graph the policy analyzer judges before a first apply.
    """
    project = project or find_project()
    config = load_stack_config(project, stack, config_file)
    return run_program(project, stack, config, new=new)
