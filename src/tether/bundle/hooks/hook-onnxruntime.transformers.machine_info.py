"""PyInstaller hook: keep torch out of apps that only run ONNX models.

onnxruntime's package imports this diagnostic module (device info for a CUDA error report),
and it imports torch when torch is installed. In a build environment that also has the
model build toolchain, that single edge pulls torch, transformers and their dependencies
(~2 GB, minutes of build time) into an app that never uses them. Only this module's own
import of torch is dropped; an app that imports torch itself still gets it.
"""

from __future__ import annotations

excludedimports = ["torch"]
