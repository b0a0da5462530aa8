"""Bundled model files and the registry (installed as acc.model_files)."""
