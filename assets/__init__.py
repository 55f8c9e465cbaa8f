"""rtopt assets package."""
