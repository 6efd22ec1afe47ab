"""The bootstrap project: what an AWS account needs before the platform's first `pulumi up`.

Its Pulumi project file is ``bootstrap/Pulumi.yaml``; ``program`` builds it (``runner`` the deploy
runner and its VPC), ``settings`` checks its stack file. It is applied once per account, with a
local or temporary backend, before the state bucket it creates can hold anything
(docs/first-apply.md).
"""
