"""The DVC stages: one thin module per stage of dvc.yaml (`python -m stages.<stage>`), each reading
params.yaml, calling the `mvclr` library and writing the outputs dvc.yaml declares.

Importing the package applies the reproducible CPU profile (mvclr.cpu_profile) before any stage
loads numpy, torch or TensorFlow, and has errors the project raises on purpose end a stage with
one line instead of a traceback (mvclr.stage_errors)."""
import mvclr.cpu_profile  # noqa: F401
from mvclr import stage_errors

stage_errors.install()
