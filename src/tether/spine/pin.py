"""`.model-version`: the lines in a consuming repo that say which releases it ships.

One model (guild, N.E.K.O): one bare semver and a newline (``1.0.1\\n``), exactly as ever.
Several models or formats in one project: one ``NAME VERSION`` line per model
(``phi3-gguf 2.0.1``), written sorted by name; blank lines and ``#`` comments are kept when
tether rewrites a line (docs/spine.md, "Named pins"). A ``v1.0.1`` typed by a user is
normalised before it is written, so no tool ever builds ``model-vv1.0.1``. This module is
the file's one reader and its one writer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tether.atomic import write_atomic
from tether.errors import (
    InvalidNameError,
    InvalidVersionError,
    PinNotFoundError,
    ReleaseNotFoundError,
    TetherError,
    shorten,
)
from tether.git import run_git
from tether.names import DOWNGRADE_FILE, PIN_FILE
from tether.paths import check_name
from tether.versioning import normalize_version, parse_version

if TYPE_CHECKING:
    from tether.project import Project
    from tether.spine.catalog import ReleaseInfo
    from tether.stores.base import Store

# The store-facing functions import the catalog, rollback, trust and the project when called:
# reading the pin is on the start-up path of a no-op `tether fetch`, which must stay light.

_LINE_HINT = "one pin a line: a bare version (1.0.1) for one model, or NAME VERSION for each"


def pin_path(project_dir: Path | str) -> Path:
    return Path(project_dir) / PIN_FILE


@dataclass(frozen=True)
class PinLine:
    """One line of .model-version: a comment or blank (no version), a bare version (no
    name), or a named pin."""

    text: str
    name: str | None = None
    version: str | None = None


@dataclass(frozen=True)
class Pins:
    """What .model-version says: a bare version for the project's one model, or a version
    per name, never both (tests/spine/test_named_pins.py::test_refusals_name_their_line)."""

    path: Path
    lines: tuple[PinLine, ...] = ()
    named: dict[str, str] = field(default_factory=dict)  # name -> version

    @property
    def bare(self) -> str | None:
        """The single-model file's version; None when the pins are named."""
        found = [line.version for line in self.lines if line.version and line.name is None]
        return found[0] if found else None

    @property
    def names(self) -> list[str]:
        return sorted(self.named)

    def version(self, name: str | None = None, *, bare_for: str | None = None) -> str | None:
        """``name``'s pinned version (None: the file pins other models). A bare version is
        the project's one model's and answers for any name, unless a writer says whose it
        is (``bare_for``, docs/spine.md "Named pins"). Without ``name`` named pins must be
        one."""
        if self.bare is not None:
            return self.bare if None in (name, bare_for) or name == bare_for else None
        if name is not None:
            return self.named.get(name)
        if len(self.named) == 1:
            return next(iter(self.named.values()))
        raise InvalidNameError(
            f"{self.path} pins several models ({', '.join(self.names)})",
            "say which with --name NAME",
        )

    def require(self, name: str | None = None, *, bare_for: str | None = None) -> str:
        """:meth:`version`, refusing with the fix when ``name`` has no pin."""
        version = self.version(name, bare_for=bare_for)
        if version is not None:
            return version
        pinned = f"the bare pin of {bare_for}" if self.bare else ", ".join(self.names)
        raise PinNotFoundError(
            f"{self.path} pins no {name} (it holds {pinned})",
            f"pin it: tether pin VERSION --name {name}",
        )


def parse_pins(text: str, path: Path) -> Pins:
    """The one parser of .model-version; PinNotFoundError naming the line and the fix."""
    if text.startswith("\ufeff"):  # saved by an editor "with BOM"; say so, not "not a number"
        raise PinNotFoundError(
            f"{path} starts with a byte-order mark", "rewrite it: tether pin VERSION"
        )
    raw_lines = text.split("\n")
    if raw_lines[-1] == "":
        raw_lines.pop()
    lines: list[PinLine] = []
    named: dict[str, str] = {}
    first: dict[str, int] = {}
    bare_at = 0
    for number, raw in enumerate(raw_lines, 1):
        fields = raw.split("#", 1)[0].split()
        where = f"{path} line {number}"
        if not fields:
            lines.append(PinLine(raw))
            continue
        if len(fields) > 2:
            raise PinNotFoundError(
                f"{where}: {shorten(raw.strip())} is neither VERSION nor NAME VERSION", _LINE_HINT
            )
        if len(fields) == 1:
            version = _version(fields[0], where, "write one with: tether pin VERSION")
            if bare_at:
                raise PinNotFoundError(
                    f"{where}: a second bare version (the first is on line {bare_at})",
                    "one model: keep one version; several: one NAME VERSION line each",
                )
            if named:
                raise PinNotFoundError(
                    f"{where}: a bare version among named pins",
                    f"give it its model's name: NAME {version}",
                )
            bare_at = number
            lines.append(PinLine(raw, None, version))
            continue
        name = _name(fields[0], where)
        version = _version(fields[1], where, f"pin it again: tether pin VERSION --name {name}")
        if bare_at:
            raise PinNotFoundError(
                f"{where}: a named pin after the bare version on line {bare_at}",
                "name that one too (NAME VERSION): a file holds one bare version or named pins",
            )
        if name in named:
            raise PinNotFoundError(
                f"{where}: {name} is pinned again (first on line {first[name]})",
                "keep one line per model",
            )
        named[name], first[name] = version, number
        lines.append(PinLine(raw, name, version))
    if not bare_at and not named:
        raise PinNotFoundError(
            f"{path} does not hold a version (no pin in it)", "write one with: tether pin VERSION"
        )
    return Pins(path, tuple(lines), named)


def _version(text: str, where: str, hint: str) -> str:
    try:
        return normalize_version(text)
    except (InvalidVersionError, ValueError) as exc:
        reason = exc.message if isinstance(exc, TetherError) else str(exc)
        raise PinNotFoundError(
            f"{where} does not hold a version ({shorten(reason)})", hint
        ) from None


def _name(text: str, where: str) -> str:
    try:
        check_name(text)
    except InvalidNameError as exc:
        raise PinNotFoundError(f"{where}: {exc.message}", exc.hint) from None
    try:  # `1.0.1 2.0.0` is a typo, not a model called 1.0.1
        normalize_version(text)
    except (InvalidVersionError, ValueError):
        return text
    raise PinNotFoundError(f"{where}: {shorten(text)} is a version, not a model name", _LINE_HINT)


def read_pins(project_dir: Path | str) -> Pins | None:
    """Every pin .model-version holds; None when the project has none."""
    path = pin_path(project_dir)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:  # tests/test_parsers_fuzz.py: any bytes
        raise PinNotFoundError(
            f"{path} cannot be read as text ({exc})", "write one with: tether pin VERSION"
        ) from None
    return parse_pins(text, path)


def read_pin(project_dir: Path | str, name: str | None = None) -> str | None:
    """The pinned version (of ``name``, with named pins), None when there is none."""
    pins = read_pins(project_dir)
    return None if pins is None else pins.version(name)


def require_pin(project_dir: Path | str, name: str | None = None) -> str:
    """The pinned version (:meth:`Pins.require`); refused when there is none."""
    pins = read_pins(project_dir)
    if pins is None:
        raise PinNotFoundError(f"no {PIN_FILE} in {Path(project_dir).absolute()}")
    return pins.require(name)


def write_pin(project_dir: Path | str, version: str) -> str:
    """Write the single-model file, a bare ``version`` (normalised), atomically; returns
    what was written. Named pins are refused: :func:`write_pins` keeps the other lines."""
    version = normalize_version(version)
    pins = _readable(project_dir)
    if pins is not None and pins.bare is None:
        raise InvalidNameError(
            f"{pins.path} holds named pins ({', '.join(pins.names)})",
            f"pin one model's line: tether pin {version} --name NAME",
        )
    _commit(project_dir, f"{version}\n", {None: version})
    return version


def _readable(project_dir: Path | str) -> Pins | None:
    try:
        return read_pins(project_dir)
    except PinNotFoundError:  # a malformed pin is being replaced: nothing to compare
        return None


def write_pins(
    project_dir: Path | str, versions: Mapping[str, str], *, default: str | None = None
) -> Pins:
    """Write several models' pins in one atomic rewrite, then re-read and check them.

    A file that is absent, malformed or bare becomes (or stays) the bare single-model file
    when only ``default`` is pinned; otherwise each name gets its line, kept in place when
    it has one, else inserted in name order; comments and other lines stay as they were.
    A bare pin joins named ones as ``default``'s line; with no ``default`` it is refused.
    """
    wanted = {check_name(n): normalize_version(v) for n, v in versions.items()}
    return _commit(project_dir, _planned(project_dir, wanted, default), dict(wanted))


def _planned(project_dir: Path | str, wanted: dict[str, str], default: str | None) -> str:
    """The text :func:`write_pins` writes; raises (writing nothing) what it would refuse."""
    try:
        current = read_pins(project_dir)
        broken: PinNotFoundError | None = None
    except PinNotFoundError as exc:
        current, broken = None, exc
    if (current is None or current.bare is not None) and list(wanted) == [default]:
        return f"{wanted[default]}\n"  # the single-model file, exactly as ever
    if broken is not None:
        raise broken  # other models' lines may be in it: fix it rather than lose them
    return _rewritten(current, wanted, default, pin_path(project_dir))


def _commit(project_dir: Path | str, text: str, wanted: Mapping[str | None, str]) -> Pins:
    """Write ``text`` atomically, then read it back: each of ``wanted`` must be as asked."""
    path = pin_path(project_dir)
    write_atomic(path, text.encode("utf-8"))
    again = read_pins(project_dir)
    if again is None or any(again.version(n) != v for n, v in wanted.items()):
        raise TetherError(
            f"{path} does not read back as written",
            "another program changed it meanwhile; run tether pin again",
        )
    return again


def _with_comment(old: str, new: str) -> str:
    """``new`` with the comment ``old`` carried after its pin, if any
    (tests/spine/test_named_pins.py::test_a_bare_line_becomes_named_with_its_comment)."""
    return f"{new}  #{old.partition('#')[2]}" if "#" in old else new


def _rewritten(
    current: Pins | None, wanted: dict[str, str], default: str | None, path: Path
) -> str:
    lines = list(current.lines) if current is not None else []
    bare = current.bare if current is not None else None
    if bare is not None:
        if default is None:
            raise PinNotFoundError(
                f"{path} holds one bare version ({bare}) and the project names no model it "
                f"is for, so it cannot become a named pin beside {', '.join(sorted(wanted))}",
                f'set name = "..." in tether.toml, or write its line yourself: NAME {bare}',
            )
        lines = [
            PinLine(_with_comment(line.text, f"{default} {bare}"), default, bare)
            if line.version
            else line
            for line in lines
        ]
        wanted = {default: bare, **wanted}
    for name in sorted(wanted):
        line = PinLine(f"{name} {wanted[name]}", name, wanted[name])
        at = [i for i, old in enumerate(lines) if old.name == name]
        if at:
            lines[at[0]] = PinLine(_with_comment(lines[at[0]].text, line.text), name, line.version)
            continue
        later = [i for i, old in enumerate(lines) if old.name is not None and old.name > name]
        named = [i for i, old in enumerate(lines) if old.name is not None]
        index = later[0] if later else (named[-1] + 1 if named else len(lines))
        lines.insert(index, line)
    return "".join(f"{line.text}\n" for line in lines)


def pin_release(
    store: Store,
    name: str,
    version: str,
    project: Project | Path | str,
    *,
    allow_downgrade: bool = False,
) -> ReleaseInfo:
    """Pin a release the store has and has not withdrawn: ``name``'s line with named pins.

    ``allow_downgrade``: lowering the pin is on purpose; it is recorded so that rollback
    protection lets fetch take the lower version (tether.spine.rollback). Lowering it
    otherwise is refused when the project's [trust] policy requires signatures.
    ``project``: its folder, or a loaded Project (whose recipe is then not read again).
    """
    from tether.project import Project
    from tether.spine.catalog import release_info, require_usable

    loaded = project if isinstance(project, Project) else Project.load(project)
    info = require_usable(release_info(store, name, version))
    pins = _readable(loaded.dir)
    owner = _bare_owner(loaded, store, pins)
    (pinned,) = _write_plan(loaded, pins, {name: info}, owner, allow_downgrade)
    return pinned.release


def default_name(project: Project, store: Store) -> str | None:
    """The project's default model: the recipe's name or profile id, else the store's only
    name (None: the project does not say). Whose the bare lines in git history were."""
    configured = project.configured_name()
    if configured is not None:
        return configured
    names = store.names()
    return names[0] if len(names) == 1 else None


def _named(pins: Pins | None) -> bool:
    """Whether the file holds named pins (no bare line, so no model owns one)."""
    return pins is not None and pins.bare is None


def _bare_owner(project: Project, store: Store, pins: Pins | None) -> str | None:
    """The model whose pin is (or, for a first pin, becomes) the bare line: the recipe's
    name or profile id, else the store's only model; for a bare version, else the one
    model in the store that has that version. None: named pins, a first pin of a project
    with several models (each gets its line), or nobody can tell, and tether does not guess
    (tests/spine/test_named_pins.py::test_a_bare_pin_of_an_unknown_model_is_not_guessed)."""
    if _named(pins):
        return None
    configured = project.configured_name()
    if configured is not None:
        return configured
    names = store.names()
    if len(names) == 1:
        return names[0]
    if pins is None or pins.bare is None:
        return None
    holding = [n for n in names if pins.bare in _versions(store, n)]
    return holding[0] if len(holding) == 1 else None


def _versions(store: Store, name: str) -> set[str]:
    return {normalize_version(v) for v in store.versions(name)}


@dataclass(frozen=True)
class Pinned:
    release: ReleaseInfo
    path: Path  # the .model-version written
    downgrade: Path | None = None  # .model-downgrade.json, when this pin recorded a step down


def pin_models(
    project_dir: Path | str = ".",
    version: str | None = None,
    *,
    previous: bool = False,
    allow_downgrade: bool = False,
    store: str | None = None,
    name: str | None = None,
) -> list[Pinned]:
    """`tether pin`: pin ``version``, or with ``previous`` the previous good release
    (:func:`previous_promoted`; going back that way is a deliberate downgrade, recorded as
    one; nothing is withdrawn, that is `tether revert`), for ``name`` or the project's one
    model. Without ``name`` in a project of named pins: every pinned model, to ``version``
    (each must have it) or each to its previous good release. Every model's target and
    rollback check come first, then one rewrite of the file: a refusal writes nothing
    (tests/spine/test_named_pins.py::test_a_refused_lowering_writes_no_pin)."""
    from tether.project import Project
    from tether.spine.catalog import release_info, require_usable

    _one_of(version, previous)
    project = Project.load(project_dir)
    opened = project.open_store(store)
    pins = _readable(project.dir)
    if name is None and pins is not None and _named(pins):
        models, owner = pins.names, None  # every pinned model
    else:
        owner = _bare_owner(project, opened, pins)
        models = [project.release_name(name or owner, opened)]  # a bare pin: its model's
    targets: dict[str, ReleaseInfo] = {}
    for model in models:
        if previous:
            if pins is None:
                require_pin(project.dir)  # raises: no file, or its bad line and the fix
            assert pins is not None
            current = pins.require(model, bare_for=owner)
            # bare lines in git history: the current bare line's model's, else the default's
            history = owner if owner is not None else default_name(project, opened)
            targets[model] = previous_promoted(
                opened, model, current, project_dir=project.dir, bare_for=history
            )
        else:
            assert version is not None
            targets[model] = require_usable(release_info(opened, model, version))
    return _write_plan(project, pins, targets, owner, allow_downgrade or previous)


def _write_plan(
    project: Project,
    pins: Pins | None,
    targets: Mapping[str, ReleaseInfo],
    owner: str | None,
    deliberate: bool,
) -> list[Pinned]:
    """Pin each of ``targets`` over ``pins`` (the file as read): the text and every lowering
    check first, then one atomic rewrite of the file, then each model's downgrade record.
    ``owner``: the model a bare pin is for (None: unknown, or the pins are named)."""
    from tether.spine.rollback import lowers, note_pin_change
    from tether.spine.trust import refuse_lowered_pin

    olds = {m: None if pins is None else pins.version(m, bare_for=owner) for m in targets}
    wanted = {model: info.version for model, info in targets.items()}
    text = _planned(project.dir, wanted, owner)  # raises what it would refuse, writing nothing
    for model, info in targets.items():
        old = olds[model]
        if old is not None and lowers(old, info.version) and not deliberate:
            refuse_lowered_pin(project, model, old, info.version)
    _commit(project.dir, text, dict(wanted))
    record = project.dir / DOWNGRADE_FILE
    done: list[Pinned] = []
    for model, info in targets.items():
        note_pin_change(project.dir, model, olds[model], info.version, deliberate=deliberate)
        recorded = deliberate and lowers(olds[model], info.version)  # this model's step
        done.append(Pinned(info, pin_path(project.dir), record if recorded else None))
    return done


def _one_of(version: str | None, previous: bool) -> None:
    if bool(version) == previous:
        raise TetherError("give either VERSION or --previous", "e.g. tether pin 1.0.1")


def previous_promoted(
    store: Store,
    name: str,
    current: str,
    *,
    project_dir: Path | None = None,
    bare_for: str | None = None,
) -> ReleaseInfo:
    """The previous good release below ``current``: the highest promoted one; when none below
    it is promoted (guild's flow pins pre-releases and never promotes) and ``project_dir``
    is given, the latest earlier pin of ``name`` in the git history of its .model-version
    that the store still has and has not withdrawn. ``bare_for``: the model the bare lines
    of that history pinned (default: the project's default model, :func:`default_name`)."""
    from tether.spine.catalog import latest, list_releases
    from tether.spine.states import PROMOTED, WITHDRAWN

    releases = list_releases(store, name)
    below = [r for r in releases if parse_version(r.version) < parse_version(current)]
    found = latest(below, PROMOTED)
    if found is not None:
        return found
    usable = {r.version: r for r in below if r.state != WITHDRAWN}
    if project_dir is not None:
        if bare_for is None:  # `tether revert` asks without it; only this path needs it
            from tether.project import Project

            bare_for = default_name(Project.load(project_dir), store)
        for version in pinned_before(project_dir, name, bare_for=bare_for):
            if version in usable:
                return usable[version]
    where = " or earlier pin in git history" if project_dir is not None else ""
    raise ReleaseNotFoundError(
        f"{store.url} has no promoted release{where} of {name} below {current}",
        "pin a version explicitly: tether pin VERSION --allow-downgrade",
    )


_LOG_PATCH = ("--format=", "-p", "--unified=0", "--", PIN_FILE)  # each pin as a "+..." line


def pinned_before(project_dir: Path, name: str, *, bare_for: str | None = None) -> list[str]:
    """The versions .model-version held for ``name`` in git history, newest first, each
    once: its named lines, and the bare lines when ``name`` is ``bare_for``, the model a
    bare pin was for (none when the project is not a git checkout or git is missing;
    tests/spine/test_named_pins.py::test_pin_previous_counts_bare_lines_only_for_their_model)."""
    log = run_git(project_dir, "log", "--no-color", "--no-ext-diff", *_LOG_PATCH)
    if log is None:
        return []
    found: list[str] = []
    for line in log.splitlines():
        if not line.startswith("+") or line.startswith("+++"):
            continue
        fields = line[1:].split("#", 1)[0].split()
        if len(fields) == 2 and fields[0] == name:
            fields = fields[1:]
        elif len(fields) != 1 or name != bare_for:
            continue
        try:
            version = normalize_version(fields[0])
        except (InvalidVersionError, ValueError):
            continue
        if version not in found:
            found.append(version)
    return found
