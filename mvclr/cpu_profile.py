"""The reproducible CPU profile: the same bits from every x86-64 machine with AVX2 and FMA3.

numpy, its OpenBLAS, TensorFlow's oneDNN and torch each pick their kernels by the CPU at run
time (AVX2 or AVX-512 loops round differently), and torch splits its sums by the number of
threads. So, before any of them loads (`stages/__init__.py` imports this module first), the
profile caps them at AVX2 and fixes torch's threads; every stage, test and worker process (they
inherit the environment) then computes what an AVX2 machine computes (README, "Reproducing
the committed results", lists what each variable changed when measured).

The profile overrides these variables. MVCLR_CPU_PROFILE=native skips it: faster on AVX-512
machines, but results then differ from the committed ones in their last bits (and so in
every metric downstream).
"""
from __future__ import annotations

import os
import platform

THREADS = 2     # torch / OpenMP threads: results depend on the count, not on the cores present

ISA_CAPS = {
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",  # numpy's AVX2 loops (exp, log10)
    "OPENBLAS_CORETYPE": "Haswell",       # numpy's BLAS: the AVX2 kernels
    "ONEDNN_MAX_CPU_ISA": "AVX2",         # TensorFlow's convolutions (musicnn)
    "ATEN_CPU_CAPABILITY": "avx2",        # torch's vectorised kernels (training)
    # TensorFlow runs its oneDNN ops only on CPUs with AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX
    # and its Eigen kernels elsewhere (a Zen 3): two arithmetics for musicnn's features. On
    "TF_ENABLE_ONEDNN_OPTS": "1",         # every machine: oneDNN (the faster, thread-invariant one)
}


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags as Linux lists them (empty where there is no /proc/cpuinfo)."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def profile(machine: str | None = None, flags: set[str] | None = None) -> dict[str, str]:
    """The variables the profile sets on this machine: the ISA caps only on x86-64 with AVX2
    and FMA3 (a cap above what the CPU has is not a cap: OpenBLAS would fault)."""
    machine = platform.machine() if machine is None else machine
    flags = cpu_flags() if flags is None else flags
    env = {"OMP_NUM_THREADS": str(THREADS)}
    if machine.lower() in ("x86_64", "amd64") and {"avx2", "fma"} <= flags:
        env.update(ISA_CAPS)
    return env


def apply() -> dict[str, str]:
    """Set the profile's variables (unless MVCLR_CPU_PROFILE=native); returns them."""
    if os.environ.get("MVCLR_CPU_PROFILE") == "native":
        return {}
    env = profile()
    os.environ.update(env)
    return env


APPLIED = apply()
