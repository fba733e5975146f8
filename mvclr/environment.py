"""The resolved versions of the libraries behind the results (reports/environment.json).

Read from the installed distributions, not from the lock, so the report shows what actually
ran; tests/test_lock.py checks that this equals requirements.lock. Nothing machine-specific
(no host, time or path) goes in, so the report reproduces on every machine set up from the lock
with the same CPU profile.
"""
from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version

from mvclr import cpu_profile

# the libraries whose version can change a number in reports/ (or the files that carry them)
KEY_PACKAGES = ("numpy", "scipy", "scikit-learn", "torch", "torchvision", "tensorflow", "tf-keras",
                "keras", "musicnn", "librosa", "numba", "llvmlite", "soundfile", "av", "pillow",
                "h5py", "hdf5plugin", "zarr", "numcodecs", "faiss-cpu", "ray", "dvc", "pyyaml",
                "matplotlib", "threadpoolctl")


def installed(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def environment() -> dict:
    """Python's minor version, the key packages' versions, the native libraries that the
    wheels bundle (FFmpeg, HDF5) and the CPU profile the stages ran under."""
    import av
    import h5py

    return {
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "packages": {name: installed(name) for name in KEY_PACKAGES},
        "ffmpeg": {lib: ".".join(map(str, v)) for lib, v in sorted(av.library_versions.items())},
        "hdf5": h5py.version.hdf5_version,
        "cpu_profile": dict(sorted(cpu_profile.APPLIED.items())),
    }
