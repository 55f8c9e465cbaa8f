"""rtopt serving package."""
