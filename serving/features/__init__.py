"""Feature store access for the hot path and the control plane (Feast on Redis)."""
