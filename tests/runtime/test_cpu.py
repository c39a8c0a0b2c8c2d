"""CPU features (numpy or /proc/cpuinfo) and whether int8 suits the CPU."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tether.runtime import cpu
from tether.runtime.cpu import CpuInfo, int8_suitability, preferred_variants, requested_variant


def test_features_without_numpy_import_or_py_cpuinfo() -> None:
    code = (
        "import sys; from tether.runtime.cpu import cpu_info, int8_suitability; "
        "info = cpu_info(); int8_suitability(info); "
        "print(info.source, 'numpy' in sys.modules, 'cpuinfo' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    # Linux reads /proc/cpuinfo: resolving needs no numpy; py-cpuinfo (~1 s) is never used
    assert done.stdout.split() == ["/proc/cpuinfo", "False", "False"], done.stderr


def test_numpy_and_proc_cpuinfo_agree_on_int8() -> None:
    proc = cpu.cpu_info()
    from_numpy = CpuInfo(proc.machine, cpu._numpy_features() or frozenset(), "numpy")
    assert int8_suitability(proc)[0] == int8_suitability(from_numpy)[0]
    if proc.machine == "x86_64":
        assert "SSE2" in from_numpy.features
        assert ("AVX2" in proc.features) == ("AVX2" in from_numpy.features)


def test_proc_cpuinfo_fallback_x86_and_arm(tmp_path: Path) -> None:
    x86 = tmp_path / "x86"
    x86.write_text(
        "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 avx512_vnni avx_vnni\n\n"
        "processor\t: 1\nflags\t\t: fpu\n"
    )
    assert cpu._proc_cpuinfo_features(str(x86)) == {"AVX2", "AVX512VNNI", "AVXVNNI"}
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd evtstrm aes asimddp sha512\n")
    assert cpu._proc_cpuinfo_features(str(arm)) == {"ASIMDDP"}
    assert cpu._proc_cpuinfo_features(str(tmp_path / "absent")) is None


@pytest.mark.parametrize(
    ("machine", "features", "platform", "suits", "words"),
    [
        ("x86_64", {"AVX2"}, "linux", True, "AVX2"),
        ("x86_64", {"AVX512VNNI"}, "linux", True, "AVX512VNNI"),
        ("x86_64", {"SSE2", "AVX"}, "win32", False, "without AVX2/VNNI"),
        ("arm64", {"ASIMD", "ASIMDDP"}, "linux", True, "dot-product"),
        ("arm64", {"ASIMD"}, "linux", False, "without dot-product"),
        ("arm64", set(), "darwin", True, "Apple silicon"),
        ("riscv64", set(), "linux", False, "riscv64"),
    ],
)
def test_int8_suitability(
    monkeypatch: pytest.MonkeyPatch,
    machine: str,
    features: set[str],
    platform: str,
    suits: bool,
    words: str,
) -> None:
    monkeypatch.setattr(sys, "platform", platform)
    result, why = int8_suitability(CpuInfo(machine, frozenset(features), "test"))
    assert result is suits and words in why


def test_requested_variant_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TETHER_VARIANT", raising=False)
    assert requested_variant(None) == ("auto", "default")
    assert requested_variant("fp32") == ("fp32", "asked")
    monkeypatch.setenv("TETHER_VARIANT", " INT8 ")
    assert requested_variant(None) == ("int8", "$TETHER_VARIANT")
    assert requested_variant("auto") == ("int8", "$TETHER_VARIANT")
    assert requested_variant("fp32") == ("fp32", "asked")


def test_preferred_variants(monkeypatch: pytest.MonkeyPatch) -> None:
    assert preferred_variants("fp32") == (["fp32"], "fp32 asked")
    monkeypatch.setattr(cpu, "int8_suitability", lambda info=None: (True, "why"))
    assert preferred_variants("auto") == (["int8", "fp32"], "auto: int8 preferred, why")
    monkeypatch.setattr(cpu, "int8_suitability", lambda info=None: (False, "why"))
    assert preferred_variants("auto")[0] == ["fp32", "int8"]
