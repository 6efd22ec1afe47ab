"""The inferstack CrossGuard policy pack.

One module per concern (aws.py, gcp.py, kubernetes_guards.py, reliability.py, stack.py, cost.py),
sharing guardkit.py; `__main__.py` only assembles them into the PolicyPack that
`pulumi preview --policy-pack policies` runs. The offline toolkit applies the very same objects
(``PACK`` below, in the same order) to a planned graph. The pack judges resources by type and
properties, whoever made them: it never imports the program.

The policy host runs this folder with the folder itself on sys.path, so the modules import
guardkit as a top-level module; the folder is appended to sys.path here so that the package
import behaves the same.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pulumi_policy import Policy

HERE = Path(__file__).resolve().parent
POLICY_CONFIG = HERE / "config"
"""policies/config/<environment>.json: levels and settings per environment (--policy-pack-config)."""

if str(HERE) not in sys.path:
    sys.path.append(str(HERE))

from policies.aws import POLICIES as AWS  # noqa: E402
from policies.cost import POLICIES as COST  # noqa: E402
from policies.gcp import POLICIES as GCP  # noqa: E402
from policies.kubernetes_guards import POLICIES as KUBERNETES  # noqa: E402
from policies.reliability import POLICIES as RELIABILITY  # noqa: E402
from policies.stack import POLICIES as STACK  # noqa: E402

PACK: list[Policy] = [*AWS, *GCP, *KUBERNETES, *RELIABILITY, *STACK, *COST]
"""Every policy of the pack, in the order policies/__main__.py registers them."""
