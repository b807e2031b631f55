"""`peprkit course build|check|fmt`: a build only writes its outputs, fmt rewrites masters."""

from __future__ import annotations

import shutil

import pytest

pytest.importorskip("otter")
nbformat = pytest.importorskip("nbformat")

from peprkit.cli import main  # noqa: E402
from peprkit.course import authoring  # noqa: E402


@pytest.fixture
def unformatted(tmp_path):
    """A copy of master 01 with an output and an old header cell: what `fmt` would fix."""
    master = authoring.find_master("01")
    source = tmp_path / "source"
    source.mkdir()
    nb = nbformat.read(master, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code" and not c.metadata.get("tags")]
    code[0]["outputs"] = [nbformat.v4.new_output("stream", text="left over\n")]
    header = next(c for c in nb.cells if authoring.HEADER_TAG in c.metadata.get("tags", []))
    header["source"] += "\n# an old header line"
    nbformat.write(nb, source / master.name)
    return source / master.name


def test_course_check_command_reports_up_to_date(capsys):
    assert main(["course", "check"]) == 0
    assert "up_to_date" in capsys.readouterr().out


def test_build_leaves_the_masters_byte_identical(unformatted, tmp_path):
    before = unformatted.read_bytes()
    written = authoring.build(unformatted.parent, tmp_path / "out")
    assert unformatted.read_bytes() == before
    assert written == [tmp_path / "out" / unformatted.name]
    assert not (tmp_path / "out" / "tests").exists(), "public test files are not written"
    student = nbformat.read(written[0], as_version=4)
    assert authoring.generated_notice(unformatted.stem) in student.cells[0].source
    # the build used current header cells and no outputs, as the committed notebook does
    committed = authoring.NOTEBOOKS_DIR / unformatted.name
    assert written[0].read_bytes() == committed.read_bytes()


def test_fmt_rewrites_what_check_reports_and_nothing_else(unformatted, capsys):
    notebooks = unformatted.parent.parent / "notebooks"
    notebooks.mkdir()
    shutil.copy(authoring.NOTEBOOKS_DIR / unformatted.name, notebooks)
    problems = authoring.check(unformatted.parent, notebooks)
    assert problems == [f"{unformatted}: header cells out of date or outputs present (run "
                        "`peprkit course fmt`)"]
    assert main(["course", "fmt", "--source", str(unformatted.parent)]) == 0
    assert f"wrote {unformatted}" in capsys.readouterr().out
    assert unformatted.read_bytes() == authoring.find_master("01").read_bytes()
    assert authoring.fmt(unformatted.parent) == []
    assert authoring.check(unformatted.parent, notebooks) == []


def test_check_reports_a_leftover_public_tests_folder(tmp_path):
    master = authoring.find_master("01")
    (tmp_path / "source").mkdir()
    shutil.copy(master, tmp_path / "source")
    notebooks = tmp_path / "notebooks"
    (notebooks / "tests" / master.stem).mkdir(parents=True)
    shutil.copy(authoring.NOTEBOOKS_DIR / master.name, notebooks)
    problems = authoring.check(tmp_path / "source", notebooks)
    assert len(problems) == 1 and problems[0].startswith(f"{notebooks / 'tests'}: stale")
