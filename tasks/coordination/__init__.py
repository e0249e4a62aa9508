"""Limits and budget held across the processes of a cluster: a coordinator per run, shares leased in batches."""

from __future__ import annotations

from tasks.coordination.cluster import (
    LEASE_SECONDS,
    SHARD_RESOURCE,
    ClusterLink,
    joined,
    local_cluster,
    open_coordination,
)
from tasks.coordination.coordinator import Coordinator, CoordinatorState
from tasks.coordination.member import Member
from tasks.coordination.shares import Amount, Grant, ProviderLimit, Report, Share, Usage

__all__ = [
    "LEASE_SECONDS",
    "SHARD_RESOURCE",
    "Amount",
    "ClusterLink",
    "Coordinator",
    "CoordinatorState",
    "Grant",
    "Member",
    "ProviderLimit",
    "Report",
    "Share",
    "Usage",
    "joined",
    "local_cluster",
    "open_coordination",
]
