"""Studies: spec files, strategies, storage and the runner."""
