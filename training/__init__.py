"""Training entry points: one module per model, each reproducible by one command."""
