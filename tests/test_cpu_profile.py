"""The demo renders the same bytes whatever BLAS kernel this CPU gets, and stages run under the
reproducible CPU profile (mvclr.cpu_profile)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mvclr.cpu_profile import ISA_CAPS, THREADS, cpu_flags, profile

REPO = Path(__file__).resolve().parents[1]
X86_AVX2 = os.uname().machine == "x86_64" and {"avx2", "fma"} <= cpu_flags()

# the frames of two planned demo videos, hashed, in a process of its own (OpenBLAS reads
# OPENBLAS_CORETYPE when it loads)
RENDER = """
import hashlib
from mvclr.data.demo.plan import plan_videos
from mvclr.data.demo.video import render_frames
h = hashlib.sha256()
for plan in plan_videos(2, seed=0, genres=["rock", "pop"], min_seconds=4, max_seconds=5, fps=24):
    for frames in render_frames(plan, 320, 180):
        h.update(frames.tobytes())
print(h.hexdigest())
"""


def render(coretype: str) -> str:
    env = {**os.environ, "OPENBLAS_CORETYPE": coretype, "MVCLR_CPU_PROFILE": "native"}
    return subprocess.run([sys.executable, "-c", RENDER], cwd=REPO, env=env, check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.mark.skipif(not X86_AVX2, reason="the kernels compared need an x86-64 CPU with AVX2")
def test_demo_frames_do_not_depend_on_the_blas_kernel():
    # Nehalem (SSE), Sandybridge (AVX) and Haswell (AVX2) kernels sum float32 products in
    # different orders; the composite's integer-valued float64 products make that exact
    assert render("Nehalem") == render("Sandybridge") == render("Haswell")


@pytest.mark.parametrize("machine, flags, caps", [
    ("x86_64", {"sse2", "avx", "avx2", "fma"}, True),
    ("x86_64", {"sse2", "avx", "avx2", "fma", "avx512f"}, True),
    ("x86_64", {"sse2", "avx"}, False),          # a cap above the CPU is no cap
    ("aarch64", {"asimd"}, False),
])
def test_profile_caps_isa_only_where_the_cpu_has_avx2(machine, flags, caps):
    env = profile(machine, flags)
    assert env["OMP_NUM_THREADS"] == str(THREADS)
    assert (ISA_CAPS.items() <= env.items()) == caps


def test_cpu_flags_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n\nprocessor\t: 1\n")
    assert cpu_flags(str(info)) == {"fpu", "sse2", "avx2", "fma"}
    assert cpu_flags(str(tmp_path / "missing")) == set()


def test_stages_run_under_the_profile():
    probe = ("import stages, torch; print(torch.get_num_threads(), "
             "torch.backends.cpu.get_cpu_capability())")
    env = {k: v for k, v in os.environ.items() if k != "MVCLR_CPU_PROFILE"}
    env["OMP_NUM_THREADS"] = "7"     # overridden: the profile fixes the count
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=env, check=True,
                         capture_output=True, text=True).stdout.split()
    assert out[0] == str(THREADS)
    if X86_AVX2:
        assert out[1] == "AVX2"


@pytest.mark.skipif(not X86_AVX2, reason="the profile's ISA caps apply to x86-64 with AVX2 and FMA3")
def test_tensorflow_runs_its_onednn_ops_on_every_cpu():
    """TensorFlow would pick oneDNN or Eigen kernels by CPU features (a Zen 3 without VNNI gets
    Eigen, other bits): the profile pins oneDNN."""
    probe = ("import stages, os; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'\n"
             "from tensorflow.python.util import _pywrap_util_port as port\n"
             "print(port.IsMklEnabled())")
    env = {k: v for k, v in os.environ.items() if k not in ("MVCLR_CPU_PROFILE", "TF_ENABLE_ONEDNN_OPTS")}
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=env, check=True,
                         capture_output=True, text=True).stdout.split()
    assert out[-1] == "True"
