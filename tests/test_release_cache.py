"""The release command's cache: an unchanged chapter is neither executed nor rewritten; a
changed one is executed again, and only it. Runs on a copy of the inputs with execution and
nbgrader replaced by stand-ins, so it is quick and leaves the repository alone."""
import shutil

import nbformat
import pytest

from course import release

REAL_ROOT = release.ROOT
CHAPTERS = ["01_tensors_broadcasting", "02_autograd_computation_graphs"]


@pytest.fixture
def course_copy(tmp_path, monkeypatch):
    """A copy of what the two chapters' releases depend on; returns (root, executed chapters)."""
    for ch in CHAPTERS:
        shutil.copytree(REAL_ROOT / "solutions" / ch, tmp_path / "solutions" / ch)
        shutil.copy(REAL_ROOT / "autograder" / "checks" / f"ch{ch}.py", tmp_path / f"ch{ch}.py")
    shutil.copytree(REAL_ROOT / "course", tmp_path / "course", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "autograder" / "checks").mkdir(parents=True)
    for ch in CHAPTERS:
        shutil.move(tmp_path / f"ch{ch}.py", tmp_path / "autograder" / "checks" / f"ch{ch}.py")
    shutil.copy(REAL_ROOT / "autograder" / "checks" / "common.py", tmp_path / "autograder" / "checks")
    for name in ("constraints.txt", "requirements.txt", "nbgrader_config.py"):
        shutil.copy(REAL_ROOT / name, tmp_path / name)
    executed = []

    def fake_execute(chapter, fast=False, timeout=900):
        executed.append(chapter)
        return nbformat.read(tmp_path / "solutions" / chapter / f"{chapter}.ipynb", as_version=4)

    def fake_generate(chapter, release_dir):
        out = tmp_path / release_dir / chapter / f"{chapter}.ipynb"
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / "solutions" / chapter / f"{chapter}.ipynb", out)
        return out

    monkeypatch.setattr(release, "ROOT", tmp_path)
    monkeypatch.setattr(release, "execute", fake_execute)
    monkeypatch.setattr(release, "generate", fake_generate)
    return tmp_path, executed


def released(root, chapter):
    return root / "chapters" / chapter / f"{chapter}.ipynb"


def test_unchanged_chapter_is_skipped_and_not_rewritten(course_copy):
    root, executed = course_copy
    assert release.update(CHAPTERS[0])[1] == "executed"
    before = released(root, CHAPTERS[0]).stat().st_mtime_ns, released(root, CHAPTERS[0]).read_bytes()
    assert release.update(CHAPTERS[0])[1] == "up to date"
    assert executed == [CHAPTERS[0]]
    assert (released(root, CHAPTERS[0]).stat().st_mtime_ns, released(root, CHAPTERS[0]).read_bytes()) == before


def test_changed_chapter_is_executed_again_and_only_it(course_copy):
    root, executed = course_copy
    for ch in CHAPTERS:
        release.update(ch)
    nb = root / "solutions" / CHAPTERS[0] / f"{CHAPTERS[0]}.ipynb"
    nb.write_text(nb.read_text().replace("\n", "\n ", 1))  # any edit counts
    assert [release.update(ch)[1] for ch in CHAPTERS] == ["executed", "up to date"]
    (root / "autograder" / "checks" / f"ch{CHAPTERS[1]}.py").write_text("# edited\n", "utf-8")
    assert [release.update(ch)[1] for ch in CHAPTERS] == ["up to date", "executed"]
    with open(root / "course" / "selfcheck.py", "a") as f:  # both chapters import it
        f.write("\n# edited\n")
    assert [release.update(ch)[1] for ch in CHAPTERS] == ["executed", "executed"]
    assert executed == CHAPTERS + [CHAPTERS[0], CHAPTERS[1]] + CHAPTERS


def test_known_inputs_come_from_the_cache_without_executing(course_copy):
    root, executed = course_copy
    release.update(CHAPTERS[0])
    released(root, CHAPTERS[0]).unlink()
    assert release.update(CHAPTERS[0])[1] == "from cache"
    selfcheck = root / "course" / "selfcheck.py"
    original = selfcheck.read_text()
    selfcheck.write_text(original + "\n# edited\n")
    assert release.update(CHAPTERS[0])[1] == "executed"
    selfcheck.write_text(original)  # back to inputs released before: no execution
    assert release.update(CHAPTERS[0])[1] == "from cache"
    assert executed == [CHAPTERS[0]] * 2
    assert release.stamped_key(released(root, CHAPTERS[0])) == release.release_key(CHAPTERS[0])


def test_no_cache_and_fast_mode_execute(course_copy):
    root, executed = course_copy
    release.update(CHAPTERS[0])
    assert release.update(CHAPTERS[0], cache=False)[1] == "executed"
    assert release.update(CHAPTERS[0], fast=True)[1] == "executed"  # a fast release is another key
    assert release.update(CHAPTERS[0])[1] == "from cache"
    assert len(executed) == 3


def test_key_does_not_depend_on_where_the_course_is(course_copy, monkeypatch):
    copy_key = release.release_key(CHAPTERS[0])
    monkeypatch.setattr(release, "ROOT", REAL_ROOT)
    assert release.release_key(CHAPTERS[0]) == copy_key


@pytest.mark.parametrize("chapter", release.chapters())
def test_committed_chapters_are_current(chapter):
    """A clean clone's `./run.sh book` then executes nothing and rewrites no chapter."""
    stamp = release.stamped_key(REAL_ROOT / "chapters" / chapter / f"{chapter}.ipynb")
    assert stamp == release.release_key(chapter), \
        f"{chapter}: released from other inputs than today's; run ./run.sh release {chapter}"
