"""The DVC stages: one thin module per stage of dvc.yaml (`python -m stages.<stage>`), each reading
params.yaml, calling the `mvclr` library and writing the outputs dvc.yaml declares.

Importing the package applies the reproducible CPU profile (mvclr.cpu_profile) before any stage
loads numpy, torch or TensorFlow: the one statement a package __init__ holds here."""
import mvclr.cpu_profile  # noqa: F401
