"""rtopt models package."""
