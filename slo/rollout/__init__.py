"""Rollout judge and rollback actuators (see INTEGRATIONS.md)."""
