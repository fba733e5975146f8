"""Every DVC stage lists as deps exactly the project files its command imports, directly or
transitively, computed here from the code (so the hand-kept lists in dvc.yaml cannot drift).

A stage's command `python -m stages.X` runs stages/X.py; every `import` / `from ... import` of a
project module (anywhere in a file, function bodies included) adds that module's file, and a
package's __init__.py when it holds more than its docstring (Python runs it on import)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from dvc.repo import Repo

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("mvclr", "stages")


def module_file(name: str) -> Path | None:
    """The file of project module `name` (a .py file or a package's __init__.py), or None."""
    if name.split(".")[0] not in PACKAGES:
        return None
    base = REPO.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def executes_code(init: Path) -> bool:
    """Whether a package's __init__.py holds statements besides its docstring."""
    body = ast.parse(init.read_text()).body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return bool(body)


def imported_modules(path: Path) -> set[str]:
    """Names of the project modules `path` imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            module = node.module
            if node.level:        # relative import
                package = path.relative_to(REPO).with_suffix("").parts[:-node.level]
                module = ".".join([*package, module])
            names.add(module)
            # `from package import module` imports the module
            names.update(f"{module}.{alias.name}" for alias in node.names
                         if module_file(f"{module}.{alias.name}") is not None)
    return {n for n in names if module_file(n) is not None}


def closure(module: str) -> set[str]:
    """Repository-relative paths of the files importing `module` runs (itself included)."""
    files: set[Path] = set()
    todo = [module]
    seen = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        for i in range(1, len(parts)):       # parent packages run first
            init = module_file(".".join(parts[:i]))
            if init is not None and init.name == "__init__.py" and executes_code(init):
                todo.append(".".join(parts[:i]))   # and what it imports
        path = module_file(name)
        if path.name != "__init__.py" or executes_code(path):
            files.add(path)
        todo.extend(imported_modules(path))
    return {str(p.relative_to(REPO)) for p in files}


def stage_module(cmd: str) -> str:
    match = re.search(r"python -m (stages\.\w+)", cmd)
    assert match, f"command {cmd!r} does not run a stage module (python -m stages.X)"
    return match.group(1)


def project_deps(stage) -> set[str]:
    """The deps of a DVC stage that are project source files."""
    deps = {str(Path(d.def_path)) for d in stage.deps}
    return {d for d in deps if d.split("/")[0] in PACKAGES and d.endswith(".py")}


STAGES = list(Repo(str(REPO)).index.stages)


@pytest.mark.parametrize("stage", STAGES, ids=[s.addressing for s in STAGES])
def test_stage_deps_are_exactly_its_imports(stage):
    needed = closure(stage_module(stage.cmd))
    listed = project_deps(stage)
    missing, superfluous = sorted(needed - listed), sorted(listed - needed)
    assert not missing and not superfluous, (
        f"stage {stage.addressing}: dvc.yaml deps "
        + (f"lack {', '.join(missing)} (imported by python -m {stage_module(stage.cmd)})"
           if missing else "")
        + ("; " if missing and superfluous else "")
        + (f"list {', '.join(superfluous)}, which it does not import" if superfluous else ""))


def test_every_stage_runs_its_own_module():
    """A stage's name and its module's name agree (a foreach stage: the name before '@')."""
    for stage in STAGES:
        name = stage.addressing.split("@")[0]
        module = stage_module(stage.cmd).split(".")[1]
        assert name == module or name == f"{module}_config", (stage.addressing, module)


def test_closure_follows_function_level_and_from_imports(tmp_path):
    """The closure sees an import inside a function and `from package import module`."""
    deps = closure("stages.embed_audio")
    assert "mvclr/features/musicnn.py" in deps            # a top-level from-import
    assert "mvclr/features/store.py" in deps              # `from mvclr.features import store`
    assert "mvclr/features/r2plus1d.py" not in deps       # the other backbone is not imported
