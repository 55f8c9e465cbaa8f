"""The safety layer around a decision: risk controls, vetoes, explanations (see each module)."""
