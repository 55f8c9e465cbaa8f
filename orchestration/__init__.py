"""rtopt orchestration package."""
