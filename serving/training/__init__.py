"""Training flows: data split, fit, validation score, export; the assets call these and register."""
