"""The layout is the architecture: the run-time library at the top of facemask/, training in facemask/train/, the
offline tools in facemask/tools/, the batch runner on Ray in facemask/batch/, dependencies pointing down only; and
what pip installs is all of it."""

import ast
import importlib
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "facemask"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def imported_modules(path: Path, root: Path = ROOT) -> set[str]:
    """Every facemask module a file imports, at the top or inside a function."""
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return {n for n in names if n == "facemask" or n.startswith("facemask.")}


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in ("train", "tools", "cli", "batch"):
        return parts[1]
    return "library"


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_dependencies_point_down(path: Path):
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    allowed = {
        "library": {"library"},
        "train": {"library", "train"},
        "tools": {"library", "train", "tools", "cli"},
        "cli": {"library", "train", "cli"},
        "batch": {"library", "cli", "batch"},
    }[layer_of(module)]
    wrong = {m for m in imported_modules(path) if layer_of(m) not in allowed}
    assert not wrong, f"{module} ({layer_of(module)}) imports {sorted(wrong)}"


def test_the_import_check_sees_relative_and_lazy_imports(tmp_path: Path):
    fake = tmp_path / "facemask" / "tools" / "x.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("import os\nfrom ..cli import run_command\nfrom . import voc\n"
                    "def f():\n    from facemask.train import data\n    from ..batch import work\n")
    found = imported_modules(fake, tmp_path)
    assert found == {"facemask.cli", "facemask.cli.run_command", "facemask.tools", "facemask.tools.voc",
                     "facemask.train", "facemask.train.data", "facemask.batch", "facemask.batch.work"}
    assert {layer_of(m) for m in found} == {"cli", "tools", "train", "batch"}


def test_the_public_api_imports_nothing_heavy():
    heavy = "{'keras', 'tensorflow', 'sklearn', 'matplotlib', 'mtcnn', 'ray'}"
    code = (f"import sys, facemask, facemask.train, facemask.tools, facemask.batch.cli; "
            f"print(sorted({heavy} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    from facemask import CLASSES, Face, MaskDetector  # noqa: F401  the API the README shows

    assert CLASSES == ("with_mask", "without_mask", "incorrect_mask")


def test_every_package_and_shipped_file_is_installed():
    setuptools = PYPROJECT["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in PACKAGE.rglob("__init__.py")}
    mapped = set(setuptools["package-dir"])
    assert set(setuptools["packages"]) == on_disk | mapped
    for package, folder in setuptools["package-dir"].items():
        patterns = setuptools["package-data"][package]
        shipped = {p.name for p in (ROOT / folder).iterdir() if p.is_file()}
        assert shipped == {p.name for pattern in patterns for p in (ROOT / folder).glob(pattern)}, package
    assert (PACKAGE / "tools" / "label_fixes.csv").is_file()


@pytest.mark.parametrize("script", sorted(PYPROJECT["project"]["scripts"]))
def test_console_scripts_point_at_entry_points(script: str):
    module, function = PYPROJECT["project"]["scripts"][script].split(":")
    main = getattr(importlib.import_module(module), function)
    assert callable(getattr(main, "__wrapped__", None)), "not made by facemask.cli.console_entry"
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0


def main_guard_call(path: Path) -> str:
    """The name a file's `if __name__ == "__main__":` block calls."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
            (statement,) = node.body
            return statement.value.func.id
    raise AssertionError(f"{path} has no __main__ block")


RUNNABLE = sorted(p for p in [*ROOT.glob("*.py"), *PACKAGE.rglob("*.py")] if '__name__ == "__main__"' in p.read_text())


@pytest.mark.parametrize("path", RUNNABLE, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_command_ends_through_its_console_entry(path: Path):
    module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
    entry = getattr(module, main_guard_call(path))
    assert callable(getattr(entry, "__wrapped__", None)), "not made by facemask.cli.console_entry"


def test_a_console_entry_exits_with_the_status_past_the_interpreters_clean_up():
    code = ("import atexit\n"
            "from facemask.cli import console_entry\n"
            "atexit.register(print, 'clean-up ran')\n"
            "def main(argv):\n"
            "    print('done', argv)\n"
            "    return 3\n"
            "console_entry(main)(['x'])\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert (out.returncode, out.stdout) == (3, "done ['x']\n")


def test_a_missing_optional_dependency_names_the_extra_to_install():
    from facemask.errors import FacemaskError, require

    require("numpy", "anything", "train")  # installed: nothing happens
    with pytest.raises(FacemaskError, match=r"training needs no_such_module_xyz.*facemask-detector\[train\]"):
        require("no_such_module_xyz", "training", "train")


def test_the_readme_s_streaming_example_runs(scene_video, capsys):
    """The sink of the README's Python API section, run as printed on a generated video of one person."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = next(b for b in readme.split("```python\n")[1:] if "class PeoplePerMinute" in b).split("```")[0]
    exec(block.replace('"lobby.mp4"', repr(str(scene_video))), {})
    assert capsys.readouterr().out.strip() == "{0: 1} Counter({'without_mask': 1})"  # one person, in minute 0


def test_a_library_user_can_filter_warnings_through_logging(caplog):
    import logging

    from facemask.errors import notice, warn

    with caplog.at_level(logging.INFO, logger="facemask"):
        warn("a file skipped\nwarning: forged")
        notice("alert: #1")
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        ("facemask", "WARNING", "a file skipped\\nwarning: forged"), ("facemask", "INFO", "alert: #1")]
