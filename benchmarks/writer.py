"""Writes one run's outputs into a folder: bench.json, bench.md, readme_section.md and the PNG plots."""

from pathlib import Path

from .plots import write_plots
from .records import Results
from .report import render_markdown, render_readme_section


def write_outputs(results: Results, out: Path) -> list[Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = [results.save(out / "bench.json")]
    (out / "bench.md").write_text(render_markdown(results))
    (out / "readme_section.md").write_text(render_readme_section(results))
    files += [out / "bench.md", out / "readme_section.md"]
    files += write_plots(results, out)
    return files
