"""CPU features and the choice of model variant (``auto | fp32 | int8``).

int8 models pay off where the CPU has the integer dot-product instructions onnxruntime's
int8 kernels use: AVX2 (or VNNI) on x86-64, the dot-product extension (asimddp) on ARM.
Elsewhere they run, but slower than fp32, so ``auto`` takes fp32 there.

Features come from the first "flags"/"Features" line of /proc/cpuinfo on Linux and from
numpy's own runtime detection (``__cpu_features__``) elsewhere or when /proc is unreadable.
Never hand-written CPUID code (antivirus tools flag it) and never py-cpuinfo (about a
second per call on the start-up path).
"""

from __future__ import annotations

import functools
import os
import platform
import sys
from dataclasses import dataclass

from tether.errors import InvalidVariantError
from tether.names import VARIANT_ENV

VARIANT_CHOICES = ("auto", "fp32", "int8")

# /proc/cpuinfo flag -> the feature name numpy uses (upper case, no underscores).
_PROC_FLAGS = {
    "avx2": "AVX2",
    "avx512_vnni": "AVX512VNNI",
    "avx_vnni": "AVXVNNI",
    "asimddp": "ASIMDDP",
}
_X86 = ("x86_64", "amd64", "x64", "i386", "i686")
_ARM = ("arm64", "aarch64", "armv8l", "armv8b")


@dataclass(frozen=True)
class CpuInfo:
    machine: str  # normalised: "x86_64", "arm64" or what platform.machine() said
    features: frozenset[str]
    source: str  # where the features came from: "numpy", "/proc/cpuinfo" or "none"


@functools.lru_cache(maxsize=1)
def cpu_info() -> CpuInfo:
    """The CPU's architecture and int8-relevant features (cached: it cannot change)."""
    machine = platform.machine().lower()
    machine = "x86_64" if machine in _X86 else "arm64" if machine in _ARM else machine
    # Linux: a few lines of /proc/cpuinfo, so resolving needs no numpy import (~50-80 ms).
    # Elsewhere numpy, which the embedder loads anyway.
    if sys.platform.startswith("linux"):
        features = _proc_cpuinfo_features()
        if features is not None:
            return CpuInfo(machine, features, "/proc/cpuinfo")
    features = _numpy_features()
    if features is not None:
        return CpuInfo(machine, features, "numpy")
    return CpuInfo(machine, frozenset(), "none")


def _numpy_features() -> frozenset[str] | None:
    # numpy is imported here only: resolving on Linux must not pay its ~50-80 ms import.
    try:  # numpy >= 2
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:
        try:  # numpy 1.x
            from numpy.core._multiarray_umath import __cpu_features__
        except ImportError:
            return None
    return frozenset(name for name, present in __cpu_features__.items() if present)


def _proc_cpuinfo_features(path: str = "/proc/cpuinfo") -> frozenset[str] | None:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                # x86 says "flags", ARM says "Features"; the first CPU's line is enough.
                if key.strip() in ("flags", "Features"):
                    words = value.split()
                    return frozenset(_PROC_FLAGS[w] for w in words if w in _PROC_FLAGS)
    except OSError:
        return None
    return None


def int8_suitability(info: CpuInfo | None = None) -> tuple[bool, str]:
    """(whether int8 kernels run well here, why) for the trail."""
    info = info or cpu_info()
    if info.machine == "x86_64":
        found = sorted({"AVX2", "AVX512VNNI", "AVXVNNI"} & info.features)
        if found:
            return True, f"x86-64 with {', '.join(found)} ({info.source})"
        return False, f"x86-64 without AVX2/VNNI ({info.source}): int8 kernels would be slow"
    if info.machine == "arm64":
        if "ASIMDDP" in info.features:
            return True, f"ARM64 with dot-product (asimddp, {info.source})"
        if sys.platform == "darwin":  # every Apple silicon core has the dot-product extension
            return True, "Apple silicon (ARM64 with dot-product)"
        return False, f"ARM64 without dot-product (asimddp, {info.source}): int8 would be slow"
    return False, f"{info.machine or 'unknown'} CPU: no known int8 fast path"


def requested_variant(variant: str | None) -> tuple[str, str]:
    """(variant asked for, where it came from): the argument, else $TETHER_VARIANT, else auto."""
    if variant is not None and variant != "auto":
        source = "asked"
    elif os.environ.get(VARIANT_ENV):
        variant, source = os.environ[VARIANT_ENV].strip().lower(), f"${VARIANT_ENV}"
    else:
        variant, source = "auto", "default"
    if variant not in VARIANT_CHOICES:
        raise InvalidVariantError(
            f"unknown variant {variant!r} ({source})", f"use one of {', '.join(VARIANT_CHOICES)}"
        )
    return variant, source


def preferred_variants(variant: str) -> tuple[list[str], str]:
    """(variants to look for, best first; why) for a request from :func:`requested_variant`.

    ``auto`` prefers int8 where the CPU suits it and fp32 elsewhere, and still accepts the
    other variant when no folder has the preferred one complete.
    """
    if variant != "auto":
        return [variant], f"{variant} asked"
    suits, why = int8_suitability()
    if suits:
        return ["int8", "fp32"], f"auto: int8 preferred, {why}"
    return ["fp32", "int8"], f"auto: fp32 preferred, {why}"
