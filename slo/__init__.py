"""The SLO engine: specs (`spec`, `openslo`), per-minute SLI series from rollups
(`sli_source`, `series`), burn rates and budgets (`burn_rate`), the Workbook's
multi-window multi-burn-rate alerts (`alerting`), status as of `at` (`evaluation`,
`snapshot`), the evaluator loop (`evaluator`, table in `models`), the HTTP API (`routes`),
Prometheus rule export (`prometheus_rules`) and the `asrwatch slo` commands (`cli`).
The alert router (`slo.router`) and the rollout judge (`slo.rollout`) live beside it."""

from slo import cache_watch, cost_watch, routes  # modules other packages use whole
from slo.alert import Alert, fingerprint
from slo.evaluator import AlertHook, evaluator_job
from slo.prometheus_source import PrometheusAPI, SLISourceUnavailable, check_sli_source
from slo.rollout.actuators import from_settings as rollout_actuators
from slo.router.config import load_router_config
from slo.router.service import AlertRouter
from slo.series_cache import SeriesCache
from slo.spec import metrics_needs, slos_from_settings

__all__ = [
    "Alert",
    "AlertHook",
    "AlertRouter",
    "check_sli_source",
    "cache_watch",
    "cost_watch",
    "evaluator_job",
    "fingerprint",
    "load_router_config",
    "metrics_needs",
    "PrometheusAPI",
    "rollout_actuators",
    "routes",
    "SeriesCache",
    "SLISourceUnavailable",
    "slos_from_settings",
]
