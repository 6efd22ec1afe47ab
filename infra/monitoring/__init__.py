"""The monitoring stack's rules as code: pure data from the stack's settings, no Pulumi.

The rules are built here once (``infra.monitoring.rules``) and reach the clusters twice: as
PrometheusRule or Google Managed Prometheus ClusterRules objects (``infra.k8s.monitoring``) and as
plain rule files that promtool checks and tests (``inferstack render``). Keeping them free of Pulumi
lets the tests feed them to promtool without running the program, and lets the metrics table
(``metrics.yaml``) be checked against every series they read.
"""
