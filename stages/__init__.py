"""The DVC stages: one thin module per stage of dvc.yaml (`python -m stages.<stage>`), each reading
params.yaml, calling the `mvclr` library and writing the outputs dvc.yaml declares."""
