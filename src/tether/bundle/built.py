"""A built app as the audit sees it: who built it, its executable, where the runtime will look
for the bundled model, and which Python modules and native libraries it carries.

Files alone say too little: a Nuitka app built with data options only holds a perfect model
and no ``tether.runtime`` (tether imports it lazily), and crashes at start. So the audit
looks inside the build:

- **PyInstaller** one-folder (``dist/app/app`` + ``_internal/``) or one-file (``dist/app``):
  the executable's appended archive (PyInstaller's own reader, ``PyInstaller.archive``)
  lists the frozen modules; extension modules and shared libraries are files of the
  one-folder data root (``sys._MEIPASS``) or entries of the one-file archive.
- **Nuitka** standalone (``dist/app.dist/app.bin``): modules are compiled into the
  executable, whose module table and constants name each one;
  extension modules and libraries are files beside it (the runtime's data root).

:func:`runtime_checks` turns that into the audit's lines; :func:`run_self_test` runs the
executable's own ``--tether-self-test`` (tether.runtime.selftest) offline, with an empty
HOME, and reports what it wrote there.
"""

from __future__ import annotations

import json
import mmap
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tether.bundle.layout import MODELS_DIR
from tether.bundle.needs import NATIVE_MODULES, runtime_needs
from tether.errors import TetherError
from tether.names import DEFAULT_PROFILES_DIR, SELF_TEST_FLAG, SELF_TEST_KEY

PYINSTALLER_ONEDIR = "PyInstaller one-folder"
PYINSTALLER_ONEFILE = "PyInstaller one-file"
NUITKA_STANDALONE = "Nuitka standalone"
#: The end of PyInstaller's archive (its cookie) and a string only Nuitka's loader holds.
_PYI_COOKIE = b"MEI\014\013\012\013\016"
_NUITKA_MARK = b"__nuitka_version__"
_EXECUTABLE_MAGIC = (
    b"\x7fELF",
    b"MZ",
    b"\xcf\xfa\xed\xfe",
    b"\xce\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
)
_LIBRARY = re.compile(r"\.(so|pyd|dll|dylib)(\.[0-9.]+)?$", re.IGNORECASE)
#: An app folder holds its executable at most this deep (dist/ -> app.dist/app.bin).
_APP_DEPTH = 2
#: Where, below a data root, the runtime looks for ``<profile_id>`` (tether.runtime.resolution).
_LOOKED_IN = ("", MODELS_DIR, DEFAULT_PROFILES_DIR)
SELF_TEST_TIMEOUT = 300


@dataclass
class BuiltApp:
    kind: str
    executable: Path
    data_root: Path | None  # None for a one-file app: the data is inside the executable
    files: frozenset[str] = frozenset()  # posix paths below the data root (or archive names)
    modules: frozenset[str] | None = None  # PyInstaller: every module its archive freezes
    contents: dict[str, tuple[int, str]] = field(default_factory=dict)  # one-file: name -> entry

    def extension(self, module: str) -> str | None:
        """The file of extension module ``module`` in the build (any ABI tag), or None."""
        folder, _, name = module.rpartition(".")
        for rel in self.files:
            path = PurePosixPath(rel)
            if (
                _LIBRARY.search(path.name)
                and path.name.split(".")[0] == name
                and path.parent.as_posix().replace("/", ".") == folder
            ):
                return rel
        return None

    def has_module(self, module: str) -> bool:
        if self.extension(module) is not None:
            return True
        if self.modules is not None:
            return module in self.modules
        # Nuitka's module table holds the name as a C string, its constants blob as ".name"
        name = module.encode()
        return any(_contains(self.executable, b"\0" + mark + name + b"\0") for mark in (b"", b"."))


def find_apps(path: Path) -> list[BuiltApp]:
    """The built apps at ``path``: a one-file executable, or a folder holding one or more."""
    path = Path(path)
    if path.is_file():
        app = _inspect(path)
        return [app] if app is not None else []
    found = []
    for executable in _executables(path):
        app = _inspect(executable)
        if app is not None:
            found.append(app)
    return found


def _executables(folder: Path) -> Iterator[Path]:
    base = len(folder.parts)
    for current, dirs, names in os.walk(folder):
        here = Path(current)
        dirs[:] = [] if len(here.parts) - base >= _APP_DEPTH else sorted(dirs)
        for name in sorted(names):
            if not _LIBRARY.search(name) and _is_executable(here / name):
                yield here / name


def _is_executable(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(4).startswith(_EXECUTABLE_MAGIC)
    except OSError:
        return False


def _contains(path: Path, needle: bytes) -> bool:
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as m:
        return m.find(needle) != -1


def _inspect(executable: Path) -> BuiltApp | None:
    if _contains(executable, _PYI_COOKIE):
        return _pyinstaller(executable)
    if _contains(executable, _NUITKA_MARK):
        root = executable.parent
        return BuiltApp(NUITKA_STANDALONE, executable, root, _walk(root))
    return None


def _walk(root: Path) -> frozenset[str]:
    return frozenset(
        Path(current, name).relative_to(root).as_posix()
        for current, _, names in os.walk(root)
        for name in names
    )


def _pyinstaller(executable: Path) -> BuiltApp | None:
    try:
        from PyInstaller.archive.readers import CArchiveReader
    except ImportError:  # the archive's format is PyInstaller's: its reader reads it
        return BuiltApp(PYINSTALLER_ONEDIR, executable, None, modules=frozenset())
    try:
        archive = CArchiveReader(str(executable))
    except Exception:
        return None
    modules: set[str] = set()
    contents = {}
    for name, (_, _, _, _, typecode) in archive.toc.items():
        if typecode == "z":
            modules.update(archive.open_embedded_archive(name).toc)
        elif typecode in "mMs":
            modules.add(name)
        else:
            contents[name] = (0, typecode)
    options = dict(o.split(" ", 1) for o in archive.options if " " in o)
    if "pyi-contents-directory" in options:
        root = executable.parent / options["pyi-contents-directory"]
        return BuiltApp(PYINSTALLER_ONEDIR, executable, root, _walk(root), frozenset(modules))
    return BuiltApp(
        PYINSTALLER_ONEFILE,
        executable,
        None,
        frozenset(n for n, (_, t) in contents.items() if t not in "od"),
        frozenset(modules),
        contents,
    )


@contextmanager
def unpacked_data(app: BuiltApp) -> Iterator[Path]:
    """A folder holding the app's bundled data as the runtime will see it (one-file: the
    model, record and assets taken out of the executable's archive into a temp folder)."""
    if app.data_root is not None:
        yield app.data_root
        return
    from PyInstaller.archive.readers import CArchiveReader

    archive = CArchiveReader(str(app.executable))
    with tempfile.TemporaryDirectory(prefix="tether-onefile-") as tmp:
        for name, (_, typecode) in app.contents.items():
            if typecode != "x":  # data files only (the bundle is data)
                continue
            target = Path(tmp, *PurePosixPath(name).parts)
            if Path(tmp) not in target.parents:
                continue  # never outside the folder
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.extract(name))
        yield Path(tmp)


def runtime_checks(
    app: BuiltApp, profiles: list[tuple[str, Path]], shown: str, root: Path | None
) -> list[tuple[bool, str]]:
    """The audit's lines: the app, tether's runtime modules, onnxruntime's native library,
    tokenizers and numpy in it, and each bundled profile where the runtime looks.

    ``profiles``: (profile id, folder) of each bundled profile; ``root``: the data root the
    runtime searches (a one-file app's: where its data was unpacked).
    """
    lines = [(True, f"app: {shown} ({app.kind}, executable {app.executable.name})")]
    if app.modules == frozenset() and app.kind == PYINSTALLER_ONEDIR and app.data_root is None:
        return [
            *lines,
            (False, "runtime: cannot read the PyInstaller archive (pip install pyinstaller)"),
        ]
    needs = runtime_needs()
    missing = [m for m in needs.modules if not app.has_module(m)]
    if missing:
        how = (
            "Nuitka does not follow tether's lazy imports: build with $(tether bundle nuitka-args)"
            if app.kind == NUITKA_STANDALONE
            else "build with tether installed, so its PyInstaller hook runs"
        )
        shown_missing = ", ".join(missing[:8]) + (", ..." if len(missing) > 8 else "")
        lines.append(
            (
                False,
                f"runtime: {len(missing)} of tether's {len(needs.modules)} runtime modules are "
                f"not in the build ({shown_missing}); {how}",
            )
        )
    else:
        lines.append(
            (True, f"runtime: tether's {len(needs.modules)} runtime modules are in the build")
        )
    for package in needs.packages:
        lines.append(_package_line(app, package))
    for profile_id, folder in profiles:
        lines.append(_resolves(app, profile_id, folder, root))
    return lines


def _package_line(app: BuiltApp, package: str) -> tuple[bool, str]:
    if not app.has_module(package):
        return False, f"{package}: not in the build (tether.load imports it)"
    native = NATIVE_MODULES.get(package)
    if native is None:
        return True, f"{package}: in the build"
    found = app.extension(native)
    if found is None:
        return False, f"{package}: its native module {native} is not in the build"
    # the extension is onnxruntime's whole CPU runtime; libonnxruntime.* serves the C API
    return True, f"{package}: {found}"


def _resolves(app: BuiltApp, profile_id: str, folder: Path, root: Path | None) -> tuple[bool, str]:
    """Is the bundled folder one the runtime looks in, and complete for it?"""
    from tether.runtime import resolve

    rel = folder.name if root is None else _relative(folder, root)
    places = [PurePosixPath(sub, profile_id).as_posix() for sub in _LOOKED_IN]
    if root is not None and rel not in places:
        return False, (
            f"resolves: {profile_id} is bundled at {rel}, where the app does not look "
            f"({' or '.join(places)} below {root.name}/)"
        )
    try:
        found = resolve(profile_id, path=folder)
    except TetherError as exc:
        return False, f"resolves: {profile_id} from {rel}: {exc.message}"
    where = "next to the executable" if app.kind == NUITKA_STANDALONE else "sys._MEIPASS"
    return True, f"resolves: {profile_id} [{found.variant}] from {rel} ({where})"


def _relative(folder: Path, root: Path) -> str:
    try:
        return folder.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return folder.as_posix()


def run_self_test(app: BuiltApp, *, timeout: float = SELF_TEST_TIMEOUT) -> list[tuple[bool, str]]:
    """Run ``app --tether-self-test`` offline-clean: only PATH, an empty HOME (and app-data
    folders) and an empty working folder. The lines: its result, and what it left in HOME."""
    with tempfile.TemporaryDirectory(prefix="tether-self-test-") as tmp:
        home, cwd = Path(tmp, "home"), Path(tmp, "cwd")
        home.mkdir()
        cwd.mkdir()
        env = _clean_env(home)
        try:
            done = subprocess.run(
                [str(app.executable.absolute()), SELF_TEST_FLAG],  # run from an empty cwd
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return [
                (False, f"self-test: {app.executable.name} {SELF_TEST_FLAG} did not run ({exc})")
            ]
        result = _result_line(done.stdout)
        lines: list[tuple[bool, str]] = []
        if result is None:
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            lines.append(
                (
                    False,
                    f"self-test: {app.executable.name} {SELF_TEST_FLAG} exited {done.returncode} "
                    f"without a result line ({tail}); call "
                    f"tether.runtime.self_test_if_asked(PROFILE_ID) at the app's start",
                )
            )
        elif result.get(SELF_TEST_KEY) == "ok" and done.returncode == 0:
            lines.append(
                (
                    True,
                    f"self-test: {result.get('profile')} {result.get('release')} "
                    f"[{result.get('variant')}] from {result.get('source')}: dim "
                    f"{result.get('dim')}, probe min cosine {result.get('probe_min_cosine')} "
                    f"(offline, empty HOME)",
                )
            )
        else:
            lines.append(
                (False, f"self-test: failed: {result.get('error')}; {result.get('hint', '')}")
            )
        left = sorted(p.relative_to(home).as_posix() for p in home.rglob("*") if p.is_file())
        if left:
            lines.append((True, f"trace: the app wrote into an empty HOME: {', '.join(left)}"))
        else:
            lines.append((True, "trace: the app wrote nothing into an empty HOME"))
        shutil.rmtree(home, ignore_errors=True)
        return lines


def _clean_env(home: Path) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(home)}
    env |= {"XDG_DATA_HOME": str(home / ".local" / "share"), "USERPROFILE": str(home)}
    env |= {"APPDATA": str(home / "AppData" / "Roaming")}
    env |= {"LOCALAPPDATA": str(home / "AppData" / "Local")}
    for key in ("SYSTEMROOT", "WINDIR", "TEMP", "TMP", "TMPDIR"):  # Windows cannot start without
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def _result_line(stdout: str) -> dict[str, object] | None:
    for line in reversed(stdout.strip().splitlines()):
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and SELF_TEST_KEY in data:
            return data
    return None
