import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from common.cli import main
from tests.unit.engine import samples

VENV_PIXELMILL = Path(sys.executable).parent / "pixelmill"


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    """photos/a.jpg (800 x 600), photos/more/b.png (300 x 400), photos/notes.jpg (text)."""
    root = tmp_path / "photos"
    (root / "more").mkdir(parents=True)
    (root / "a.jpg").write_bytes(samples.jpeg(samples.photo(800, 600)))
    (root / "more" / "b.png").write_bytes(samples.png(samples.photo(300, 400)))
    (root / "notes.jpg").write_bytes(b"shopping list: milk, eggs\n")
    return root


def _size(path: Path) -> tuple[int, int]:
    image = samples.decode(path.read_bytes())
    return image.width, image.height


def test_one_size_writes_stem_and_extension_and_mirrors_directories(
    sources: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    (sources / "notes.jpg").unlink()
    assert main(["process", str(sources), "--out", str(out), "--width", "200"]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.*")) == [
        "a.jpg",
        "more/b.png",
    ]
    assert _size(out / "a.jpg") == (200, 150)
    assert _size(out / "more" / "b.png") == (200, 267)


def test_variants_are_named_and_formats_converted(sources: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = main(
        [
            "process",
            str(sources / "a.jpg"),
            "--out",
            str(out),
            "--fit",
            "cover",
            "--variant",
            "thumb:100x100:webp:70",
            "--variant",
            "tall:x300",
            "--format",
            "png",
        ]
    )
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["a.tall.png", "a.thumb.webp"]
    assert _size(out / "a.thumb.webp") == (100, 100)
    assert _size(out / "a.tall.png") == (400, 300)


def test_a_failed_file_is_reported_and_the_rest_go_on(
    sources: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, report = tmp_path / "out", tmp_path / "report.json"
    missing = sources / "gone.jpg"
    code = main(
        [
            "process",
            str(sources),
            str(missing),
            "--out",
            str(out),
            "--width",
            "100",
            "--jobs",
            "2",
            "--report",
            str(report),
        ]
    )
    assert code == 1
    printed = capsys.readouterr().out
    assert f"failed {sources / 'notes.jpg'}: unsupported_format" in printed
    assert f"failed {missing}: io_error" in printed
    assert "4 files: 2 done, 2 failed" in printed

    body = json.loads(report.read_text())
    assert (body["done"], body["failed"]) == (2, 2)
    files = {Path(entry["source"]).name: entry for entry in body["files"]}
    assert files["notes.jpg"]["status"] == "failed"
    assert files["notes.jpg"]["error"]["code"] == "unsupported_format"
    assert files["gone.jpg"]["error"]["code"] == "io_error"
    (a_output,) = files["a.jpg"]["outputs"]
    assert a_output["variant"] == "default"
    assert (a_output["width"], a_output["height"], a_output["format"]) == (100, 75, "jpg")
    assert a_output["bytes"] == (out / "a.jpg").stat().st_size
    assert Path(a_output["path"]) == out / "a.jpg"


@pytest.mark.parametrize(
    "arguments",
    [
        ["--variant", "thumb:100"],
        ["--variant", "thumb:axb"],
        ["--variant", "thumb:10x10:bmp"],
        ["--fit", "stretch"],
        ["--jobs", "0"],
    ],
)
def test_malformed_options_exit_2(
    sources: Path, tmp_path: Path, arguments: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["process", str(sources), "--out", str(tmp_path / "out"), *arguments])
    assert exited.value.code == 2
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--variant", "thumb:0x10"], "width must be an integer from 1 to 10000"),
        (["--variant", "a:10x10", "--variant", "a:20x20"], "unique"),
        (["--variant", "bad name:10x10"], "variant name"),
        (["--width", "10", "--variant", "a:10x10"], "either --width/--height or --variant"),
        (["--quality", "101"], "quality"),
        (["--variant", "a:10x10:jpg:0"], "quality must be an integer from 1 to 100"),
    ],
)
def test_invalid_values_exit_2_with_a_clear_message(
    sources: Path,
    tmp_path: Path,
    arguments: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["process", str(sources), "--out", str(tmp_path / "out"), *arguments]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_two_sources_that_would_share_result_names_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = samples.png(samples.photo(20, 20))
    (tmp_path / "x.png").write_bytes(photo)
    (tmp_path / "x.jpg").write_bytes(photo)
    out = tmp_path / "out"
    assert (
        main(["process", str(tmp_path / "x.png"), str(tmp_path / "x.jpg"), "--out", str(out)]) == 2
    )
    assert "same result names" in capsys.readouterr().err


def test_results_inside_the_input_tree_are_not_sources_again(sources: Path) -> None:
    out = sources / "out"
    (sources / "notes.jpg").unlink()
    assert main(["process", str(sources), "--out", str(out), "--width", "50"]) == 0
    assert main(["process", str(sources), "--out", str(out), "--width", "50"]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.*")) == [
        "a.jpg",
        "more/b.png",
    ]


def test_the_installed_command_runs_and_prints_plain_lines_off_a_terminal(
    sources: Path, tmp_path: Path
) -> None:
    out, report = tmp_path / "out", tmp_path / "report.json"
    completed = subprocess.run(
        [
            str(VENV_PIXELMILL),
            "process",
            str(sources),
            "--out",
            str(out),
            "--height",
            "60",
            "--format",
            "webp",
            "--report",
            str(report),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert completed.returncode == 1
    assert f"done   {sources / 'a.jpg'} -> a.webp" in completed.stdout
    assert "unsupported_format" in completed.stdout
    assert "\x1b[" not in completed.stdout + completed.stderr
    assert _size(out / "a.webp") == (80, 60)
    assert json.loads(report.read_text())["failed"] == 1

    bad = subprocess.run(
        [str(VENV_PIXELMILL), "process", str(sources), "--out", str(out), "--variant", "x"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert bad.returncode == 2
    assert "NAME:WxH" in bad.stderr


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_progress_bar(
    sources: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["process", str(sources), "--out", str(tmp_path / "out"), "--width", "50"]) == 1
    shown = terminal.getvalue()
    assert "processing" in shown
    assert "3/3" in shown
    assert "failed" in shown
    assert "unsupported_format" in shown
