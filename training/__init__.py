"""Training application: data pipelines, presets, callbacks and the CLI."""
