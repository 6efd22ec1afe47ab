"""The bootstrap program: reads its stack's settings once and builds ``infra.bootstrap.program``."""

import os

import pulumi

from infra.bootstrap.program import build
from infra.bootstrap.settings import NAMESPACE, parse_bootstrap
from infra.settings import project_config

source = os.environ.get("INFERSTACK_CONFIG_SOURCE") or f"stacks/Pulumi.{pulumi.get_stack()}.yaml"
everything = {**pulumi.runtime.get_config_env(), **pulumi.runtime.config.CONFIG.get()}
build(parse_bootstrap(project_config(everything, NAMESPACE), source))
