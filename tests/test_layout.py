"""The architecture, checked: layers import only downwards, only the named edges touch files,
nothing in the package knows params.yaml, and each stage's deps in dvc.yaml are what it imports."""

import ast
import importlib.util
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "fmnist"
STAGES = ROOT / "stages"

# Lower layers never import higher ones, and units of one layer never import each other.
LAYERS = {"errors": 0, "runtime": 0, "data": 1, "nn": 1, "train": 2, "tune": 3, "analysis": 3,
          "figures": 4, "report": 4, "params": 5, "atomic": 5}
# The only modules that read or write files: the data-reading edge and the atomic writers.
FILE_EDGES = {"data/idx.py", "data/fetch.py", "atomic.py"}
FILE_CALLS = {"open", "read_bytes", "read_text", "write_bytes", "write_text", "savefig", "save",
              "load", "dump", "replace", "rename", "rmtree", "mkdir", "unlink", "urlopen",
              "Live", "mkstemp"}


def imports(path: Path) -> set[str]:
    """Every module `path` imports, at any depth, except under `if TYPE_CHECKING:`."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            return  # annotations only: no run-time dependency
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def module_file(name: str) -> Path | None:
    """The file of a module of ours (`fmnist.x.y` or a stages' helper `_name`), else None."""
    if name.startswith("_") and (STAGES / f"{name}.py").is_file():
        return STAGES / f"{name}.py"
    if name != "fmnist" and not name.startswith("fmnist."):
        return None
    base = PACKAGE.parent.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None  # `from fmnist.x import name` also yields fmnist.x.name, which is no module


def unit(path: Path) -> str:
    """What a file counts as in dvc.yaml: a sub-package folder or a top-level module."""
    relative = path.relative_to(ROOT)
    if relative.parts[:2] == ("src", "fmnist") and len(relative.parts) > 3:
        return "/".join(relative.parts[:3])
    return relative.as_posix()


def closure(script: Path) -> set[Path]:
    """Our files that `script` imports, directly or through others."""
    seen, todo = set(), [script]
    while todo:
        for name in imports(todo.pop()):
            path = module_file(name)
            if path is not None and path not in seen:
                seen.add(path)
                todo.append(path)
    return seen


def layer(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


PACKAGE_FILES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"
                       or p.parent != PACKAGE)


@pytest.mark.parametrize("path", PACKAGE_FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_layers_import_only_downwards(path):
    own = layer(path)
    for name in imports(path):
        target = module_file(name)
        if target is None or target == PACKAGE / "__init__.py":
            continue
        other = layer(target)
        assert other == own or LAYERS[other] < LAYERS[own], f"{own} imports {other} ({name})"


def test_every_part_of_the_package_has_a_layer():
    assert {layer(p) for p in PACKAGE_FILES} == set(LAYERS)


def file_calls(path: Path) -> set[str]:
    """Names of calls in `path` that read or write files."""
    calls = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "attr", getattr(node.func, "id", None))
            if name in FILE_CALLS:
                calls.add(name)
    return calls


@pytest.mark.parametrize("path", PACKAGE_FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_named_edges_touch_files(path):
    relative = path.relative_to(PACKAGE).as_posix()
    if relative not in FILE_EDGES:
        assert not file_calls(path), f"{relative} touches files: {file_calls(path)}"


def test_the_edges_are_found_touching_files():
    # the check above can fail: it sees the calls where they are
    assert {"read_bytes", "urlopen"} <= file_calls(PACKAGE / "data" / "fetch.py")
    assert {"savefig", "replace"} <= file_calls(PACKAGE / "atomic.py")


def test_nothing_in_the_package_knows_params_yaml():
    for path in PACKAGE.rglob("*.py"):
        assert "params.yaml" not in path.read_text(encoding="utf-8"), path


def test_only_stages_use_the_stage_helpers():
    for path in PACKAGE_FILES:
        used = {name for name in imports(path) if name in ("fmnist.atomic", "fmnist.params")}
        assert layer(path) in ("atomic", "params") or not used, f"{path} imports {used}"


def dvc_stages() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


@pytest.mark.parametrize("name", sorted(dvc_stages()))
def test_stage_deps_name_what_the_stage_imports(name):
    stage = dvc_stages()[name]
    script = ROOT / stage["cmd"].split()[1]
    code = {unit(path) for path in closure(script)} - {"src/fmnist/__init__.py"}
    own = script.relative_to(ROOT).as_posix()
    declared = {dep for dep in stage["deps"] if dep.startswith(("src/", "stages/")) and dep != own}
    assert declared == code


@pytest.mark.parametrize("name", sorted(dvc_stages()))
def test_stage_params_are_the_keys_it_validates(name):
    stage = dvc_stages()[name]
    script = ROOT / stage["cmd"].split()[1]
    spec = importlib.util.spec_from_file_location(f"stage_{name}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # defines main() and its constants, runs nothing
    assert sorted(stage.get("params", [])) == sorted(getattr(module, "PARAMS", ()))


@pytest.mark.parametrize("script", sorted(STAGES.glob("[!_]*.py")), ids=lambda p: p.name)
def test_stage_scripts_stay_short_and_take_no_default_paths(script):
    text = script.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 60
    assert "default=" not in text  # every path comes from dvc.yaml's command line
