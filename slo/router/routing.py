"""Walking the route tree (Alertmanager semantics) and resolving model owners."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from slo.router import matchers as m
from slo.router.config import OWNER_RECEIVER, Owner, Route, RouterConfig, seconds


@dataclass(frozen=True)
class RouteMatch:
    route_id: str  # path in the tree, part of the group key
    receiver: str
    group_by: tuple[str, ...]
    group_wait: float
    group_interval: float
    repeat_interval: float


def owner_for(labels: Mapping[str, str], owners: Mapping[str, Owner]) -> Owner | None:
    """Exact model_version first, then the longest family prefix (`whisper-large` owns
    `whisper-large-v3@abc`), then an owner whose team is the alert's `team` label."""
    version = labels.get("model_version", "")
    if version in owners:
        return owners[version]
    family = [k for k in owners if version and version.startswith(k)]
    if family:
        return owners[max(family, key=len)]
    team = labels.get("team")
    for owner in owners.values():
        if team and owner.team == team:
            return owner
    return None


def with_team(labels: Mapping[str, str], owners: Mapping[str, Owner]) -> dict[str, str]:
    out = dict(labels)
    if "team" not in out:
        owner = owner_for(labels, owners)
        if owner is not None:
            out["team"] = owner.team
    return out


def match_labels(labels: Mapping[str, str], annotations: Mapping[str, str]) -> dict[str, str]:
    """What routes, silences and inhibition match on: the labels plus the owning `team`.

    The team travels as an annotation so the alert's labels (and so its fingerprint) stay
    exactly what the SLO engine or drift raised."""
    out = dict(labels)
    if "team" not in out and annotations.get("team"):
        out["team"] = annotations["team"]
    return out


def route(labels: Mapping[str, str], config: RouterConfig) -> list[RouteMatch]:
    """Every receiver the alert goes to. `labels` should already carry `team` (`with_team`)."""
    root = config.routes
    defaults = {
        "receiver": root.receiver,
        "group_by": tuple(root.group_by if root.group_by is not None else config.group_by),
        "group_wait": seconds(root.group_wait if root.group_wait is not None else config.group_wait),
        "group_interval": seconds(root.group_interval if root.group_interval is not None else config.group_interval),
        "repeat_interval": seconds(root.repeat_interval if root.repeat_interval is not None
                                   else config.repeat_interval),
    }
    found: list[RouteMatch] = []
    _walk(root, "0", labels, defaults, found)
    out = []
    for match in found:
        receiver = match.receiver
        if receiver == OWNER_RECEIVER:
            owner = owner_for(labels, config.owners)
            receiver = owner.receiver if owner and owner.receiver else (config.fallback_receiver or "")
        if receiver:
            out.append(RouteMatch(match.route_id, receiver, match.group_by, match.group_wait,
                                  match.group_interval, match.repeat_interval))
    return out


def _inherit(node: Route, parent: dict) -> dict:
    return {
        "receiver": node.receiver if node.receiver is not None else parent["receiver"],
        "group_by": tuple(node.group_by) if node.group_by is not None else parent["group_by"],
        "group_wait": seconds(node.group_wait) if node.group_wait is not None else parent["group_wait"],
        "group_interval": seconds(node.group_interval) if node.group_interval is not None else parent["group_interval"],
        "repeat_interval": seconds(node.repeat_interval) if node.repeat_interval is not None
        else parent["repeat_interval"],
    }


def _walk(node: Route, path: str, labels: Mapping[str, str], inherited: dict, out: list[RouteMatch]) -> bool:
    settings = _inherit(node, inherited)
    matched_child = False
    for i, child in enumerate(node.routes):
        if not m.all_match(child.all_matchers(), labels):
            continue
        _walk(child, f"{path}.{i}", labels, settings, out)
        matched_child = True
        if not child.continue_:
            break
    if not matched_child and settings["receiver"]:
        out.append(RouteMatch(path, settings["receiver"], settings["group_by"], settings["group_wait"],
                              settings["group_interval"], settings["repeat_interval"]))
    return True
