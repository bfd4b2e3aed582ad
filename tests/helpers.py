"""Helpers shared by the tests: paths, golden files, manifests and running the real command."""

from __future__ import annotations

import base64
import gzip
import io
import os
import re
import shutil
import subprocess
import sys
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from archreport import units

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
ARTIFACTS = ROOT / "test-artifacts"


def check_golden(path: Path, text: str, update: bool) -> None:
    """Compare ``text`` with a golden file (or rewrite it with --update-golden)."""
    if update or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if not update:
            pytest.fail(f"golden file {path} did not exist; it was written, check it in")
    assert text == path.read_text(encoding="utf-8"), (
        f"output differs from {path}; rerun with --update-golden if intended"
    )


# A packed section or search index of report.html: base64 of gzip, in a script element no browser runs.
PACKED = re.compile(
    r'<script type="application/octet-stream" class="(pack|search-index)">([A-Za-z0-9+/=]*)</script>'
)


def unpack(text: str) -> str:
    """What a packed block of report.html holds (read here without archreport's code)."""
    return gzip.decompress(base64.b64decode(text, validate=True)).decode("utf-8")


def unpacked_html(page: str) -> str:
    """report.html as a browser shows it once every section is unpacked: each packed section in its place."""
    return PACKED.sub(lambda m: unpack(m[2]) if m[1] == "pack" else m[0], page)


def read_report_html(path: Path) -> str:
    """A report.html file, its sections unpacked (:func:`unpacked_html`)."""
    return unpacked_html(path.read_text(encoding="utf-8"))


def lenet_table(name: str = "LeNet", more: str = "") -> str:
    """The manifest's ``[[model]]`` table of the tutorial's LeNet, with ``more`` after its keys (a
    description, ``[model.expect]``, ...). Its builder is examples/lenet.py: copy_example_builders
    puts it beside the manifest."""
    return f'\n[[model]]\nname = "{name}"\nbuilder = "lenet:LeNet.build"\nargs = [28, 28, 1, 10]\n{more}'


LENET = lenet_table()


def write_manifest(folder: Path, text: str, name: str = "manifest.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def copy_example_builders(folder: Path) -> None:
    for name in ("lenet.py", "blocks.py"):
        shutil.copy(EXAMPLES / name, folder / name)


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m archreport`` in a separate process, as a user would.

    A report.pdf that the run wrote into its ``-o`` folder must pass :func:`check_pdf`,
    so every test that writes a PDF through the command checks it.
    """
    full_env = {**os.environ, **(env or {})}
    started = time.time()
    proc = subprocess.run(
        [sys.executable, "-m", "archreport", *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    for flag in ("-o", "--output-dir"):
        if flag in args[:-1]:
            pdf = Path(cwd or ".") / args[args.index(flag) + 1] / "report.pdf"
            if pdf.is_file() and pdf.stat().st_mtime >= started - 1:
                check_pdf(pdf)
    return proc


# PDFs already checked (or exempted), by path: the file's identity when it was, and its page count.
# tests/conftest.py checks every PDF a test left behind; this keeps it from checking one twice.
_CHECKED: dict[Path, tuple[tuple[int, int, int], int | None]] = {}


def _identity(path: Path) -> tuple[int, int, int]:
    """What changes when a file is rewritten: atomic writes give a new inode, others a new mtime."""
    st = path.stat()
    return st.st_ino, st.st_size, st.st_mtime_ns


def check_pdf(path: Path) -> int:
    """Assert that strict readers accept a PDF and that pdfium reads all of it; return its page count.

    A file checked before and unchanged since is not read again.

    poppler and pypdf tolerate malformed objects that others reject (issue 10), so
    ``qpdf --check`` must pass without a warning, pdfminer (pdfplumber), pypdf, poppler and
    pdfium (Chrome's PDF engine) must see the same pages, and pdfium must read all poppler
    reads (:func:`check_pdfium_reads_all`).
    """
    path = Path(path).resolve()
    identity = _identity(path)
    done = _CHECKED.get(path)
    if done is not None and done[0] == identity and done[1] is not None:
        return done[1]
    # Recorded first: a failure is reported once, not again by every later scan (pdfs_left_in).
    _CHECKED[path] = (identity, None)
    pages = _check_pdf(path)
    _CHECKED[path] = (identity, pages)
    return pages


def _check_pdf(path: Path) -> int:
    import pdfplumber
    from pypdf import PdfReader

    proc = subprocess.run(
        ["qpdf", "--check", str(path)], capture_output=True, text=True, errors="replace", check=False
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "WARNING" not in output, f"qpdf --check {path}:\n{output[-3000:]}"
    pages = len(PdfReader(path).pages)
    with pdfplumber.open(path) as plumber:
        assert len(plumber.pages) == pages, f"pdfminer sees {len(plumber.pages)} pages, pypdf {pages}"
    assert check_pdfium_reads_all(path) == pages, f"pdfium sees other pages than pypdf's {pages}"
    return pages


def check_pdfium_reads_all(path: Path) -> int:
    """Assert that pdfium reads on each page every character poppler reads, and draws a page with text.

    pdfium drops a content stream it cannot parse without a word (its render returns nothing to
    check), and that page then lacks the text. Poppler is the reference because it is fast and
    lenient. pdfium may read more: it also returns text a tile page clips away, which poppler
    drops. Returns the page count, which poppler and pdfium must agree on.
    """
    import pypdfium2

    poppler = poppler_pages_text(path)
    document = pypdfium2.PdfDocument(str(path))
    try:
        assert len(document) == len(poppler), (
            f"{path}: pdfium sees {len(document)} pages, poppler {len(poppler)}"
        )
        for index, expected in enumerate(poppler):
            page = document[index]
            try:
                textpage = page.get_textpage()
                read = textpage.get_text_range()
                textpage.close()
                missing = _characters(expected) - _characters(read)
                assert not missing, (
                    f"{path}, page {index + 1}: pdfium reads no {''.join(sorted(missing))!r} of what "
                    f"poppler reads ({missing.total()} characters missing)"
                )
                if expected.strip():
                    assert _has_ink(page), (
                        f"{path}, page {index + 1}: pdfium draws nothing on a page with text"
                    )
            finally:
                page.close()
    finally:
        document.close()
    return len(poppler)


def poppler_pages_text(path: Path) -> list[str]:
    """Each page's text as poppler's pdftotext reads it (it ends every page with a form feed)."""
    proc = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, f"pdftotext {path}: {proc.stderr[-2000:]}"
    return proc.stdout.split("\f")[:-1]


def _characters(text: str) -> Counter[str]:
    """The characters of ``text`` but white space, NFKC-normalised (Graphviz writes ligatures).

    Compared as a multiset: the two engines order and space the words of a diagram differently.
    """
    return Counter(ch for ch in unicodedata.normalize("NFKC", text) if not ch.isspace())


def _has_ink(page: Any) -> bool:
    """Whether pdfium's rendering of ``page``, small and grey, has a pixel that is not white."""
    bitmap = page.render(scale=0.2, grayscale=True)
    try:
        return bool((bitmap.to_numpy() < 250).any())
    finally:
        bitmap.close()


def pdfs_left_in(folder: Path) -> list[Path]:
    """The PDFs under ``folder`` not checked (nor exempted) since they were last written.

    Hidden folders are skipped: they are work in progress (a staging folder, Graphviz's
    attempts, a report's sections) or a cache, never a report a user opens.
    """
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            if name.lower().endswith(".pdf"):
                path = Path(root, name).resolve()
                try:
                    identity = _identity(path)
                except OSError:
                    continue  # removed meanwhile, or a dangling link
                if path not in _CHECKED or _CHECKED[path][0] != identity:
                    found.append(path)
    return sorted(found)


def check_pdfs_left_in(folder: Path) -> None:
    """Run :func:`check_pdf` on every PDF under ``folder`` that was not checked yet."""
    for path in pdfs_left_in(folder):
        check_pdf(path)


def exempt_pdfs_in(folder: Path) -> None:
    """Record the PDFs under ``folder`` as seen, unchecked: a test broke them on purpose."""
    for path in pdfs_left_in(folder):
        _CHECKED[path] = (_identity(path), None)


def pdf_pages_text(data: bytes) -> list[str]:
    """Each page's text as pdfminer (pdfplumber) reads it, NFKC-normalised (Graphviz writes ligatures)."""
    import pdfplumber

    with pdfplumber.open(io.BytesIO(data)) as pdf:
        return [unicodedata.normalize("NFKC", page.extract_text() or "") for page in pdf.pages]


def pdf_outline(path: Path) -> list[tuple[str, int, list[tuple[str, int]]]]:
    """Top-level bookmarks as (title, page index, [(child title, page index)])."""
    import pikepdf

    with pikepdf.open(path) as pdf:
        index = {page.obj.objgen: i for i, page in enumerate(pdf.pages)}

        def page_of(item: Any) -> int:
            return index[item.destination[0].objgen]

        with pdf.open_outline() as tree:
            return [
                (item.title, page_of(item), [(c.title, page_of(c)) for c in item.children])
                for item in tree.root
            ]


def analyse_in(backend: str, jobs: list[dict], timeout: float = 900) -> dict:
    """Analyses of ``jobs`` (see tests/analyse_job.py) made in a fresh process of that Keras backend."""
    import json

    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    proc = subprocess.run(
        [sys.executable, "-m", "tests.analyse_job", backend],
        input=json.dumps(jobs), cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- processes and staging folders --------------------------------------------
TAG = "ARCHREPORT_TEST_TAG"  # set in a run's environment, so its processes can be found in /proc


def tagged_processes(tag: str) -> list[int]:
    """Live processes whose environment carries ``TAG=tag`` (the run's workers, dot, ...).

    Right after ``Popen`` returns, a child's environment can still read empty: the kernel closes
    the exec pipe before it lays out the new program's environment. Callers that need a child
    to be seen wait for it (:func:`wait_for`).
    """
    needle = f"{TAG}={tag}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in env.split(b"\0"):
            found.append(int(entry.name))
    return found


def wait_for(condition: Any, seconds: float) -> bool:
    """Whether ``condition()`` came true within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "?"


def wait_until_gone(pids: list[int], seconds: float = 5.0) -> list[int]:
    """The processes of ``pids`` still alive (not zombies) after up to ``seconds``."""
    deadline = time.monotonic() + seconds
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [p for p in alive if Path(f"/proc/{p}").exists() and _state(p) != "Z"]
    return alive


def staging_folders(out: Path) -> list[Path]:
    """The staging folders of runs writing ``out``, live or dead."""
    return sorted(out.parent.glob(f".{out.name}.staging-*"))


def run_cli_bound_by_permissions(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The command as a process that file permissions apply to: as root (CI), without the
    capabilities that bypass them (setpriv, util-linux)."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root bypasses file permissions, and setpriv is not installed to drop that")
        caps = "-dac_override,-dac_read_search,-fowner"
        prefix = ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}"]
    return subprocess.run(
        [*prefix, sys.executable, "-m", "archreport", *args],
        cwd=cwd, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


# -- the block overview's drawing -----------------------------------------------------
SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}href"


@dataclass
class Drawn:
    """A node or edge of a Graphviz SVG: its link, its texts, and whether it is drawn dashed."""

    href: str | None
    texts: list[str]
    dashed: bool


def svg_elements(svg: str) -> dict[str, Drawn]:
    """Every node and edge group of a Graphviz SVG, by its id (the DOT's id attribute)."""
    root = ElementTree.fromstring(svg)
    out = {}
    for g in root.iter(f"{SVG}g"):
        if g.get("class") not in ("node", "edge"):
            continue
        links = [a.get(XLINK) for a in g.iter(f"{SVG}a")]
        texts = ["".join(t.itertext()) for t in g.iter(f"{SVG}text")]
        dashed = any(p.get("stroke-dasharray") for p in g.iter(f"{SVG}path"))
        out[g.get("id", "")] = Drawn(links[0] if links else None, texts, dashed)
    return out


def overview_of(folder: Path) -> tuple[str, dict[str, Drawn]]:
    """An overview's DOT source and its drawn nodes and edges, from its folder (models/<slug>/overview)."""
    return (folder / "diagram.dot").read_text(encoding="utf-8"), svg_elements(
        (folder / "diagram.svg").read_text(encoding="utf-8")
    )


def check_folded(
    model: dict[str, Any],
    overview: Path,
    section: str,
    *,
    parent: str | None,
    box: str,
    count: int,
    steps: list[str],
    parts: list[str],
) -> None:
    """The overview draws the run as one box ``box ×count``, the first block expanded below it
    (its ``steps``, linked to the first block's rows), and the layer table keeps every block
    and each block's sub-layers ``parts``.

    ``model`` is the model's entry in report.json, ``overview`` the folder of its overview's
    files and ``section`` its HTML.
    """
    slug = model["slug"]
    rows = {r["path"]: r for r in model["layers"]}
    [run] = model["repeated_blocks"]
    assert run["parent"] == parent and len(run["names"]) == count
    prefix = f"{parent}/" if parent else ""
    first = rows[prefix + run["names"][0]]
    dot, drawn = overview_of(overview)
    svg = (overview / "diagram.svg").read_text(encoding="utf-8")
    assert set(re.findall(r'font-family="([^"]*)"', svg)) == {"DejaVu Sans"}  # the cluster's label too
    boxes = {i: d for i, d in drawn.items() if f"×{count}" in d.texts}
    assert len(boxes) == 1, dot
    [(box_id, folded)] = boxes.items()
    assert folded.texts[:2] == [f"{box} ({run['class_name']})", f"×{count}"]
    assert folded.href == f"#{first['anchor']}"  # a click opens the first block's row
    assert f"{units.si(first['params'])} params · {units.flops(first['flops'])} each" in folded.texts[2]
    # The expanded first block hangs below the box by a dashed link, and its steps link to its own rows.
    expansion = drawn[f"{slug}-ov-rx0"]
    assert expansion.dashed
    assert f"o{box_id.rsplit('-o', 1)[1]} -> r0n0 " in dot
    inside = [d for i, d in drawn.items() if i.startswith(f"{slug}-ov-r0n")]
    titles = [d.texts[0] for d in inside if d.texts]
    assert all(any(t.startswith(step) for t in titles) for step in steps), titles
    linked = {d.href for d in inside if d.href}
    sub_rows = {f"#{r['anchor']}" for r in model["layers"] if r["path"].startswith(first["path"] + "/")}
    assert linked and linked <= sub_rows
    # The table keeps every block and every block's sub-layers: in report.json and in the HTML.
    for block in run["names"]:
        for path in [prefix + block] + [f"{prefix}{block}/{part}" for part in parts]:
            assert path in rows, path
            assert f'<tr id="{rows[path]["anchor"]}"' in section, path


def count_layouts(monkeypatch: pytest.MonkeyPatch, module: Any) -> list[int]:
    """The page count of each WeasyPrint layout that ``module`` does from now on."""
    laid_out: list[int] = []
    real = module.layout

    def counting(html: str, report_dir: Path) -> Any:
        document = real(html, report_dir)
        laid_out.append(len(document.pages))
        return document

    monkeypatch.setattr(module, "layout", counting)
    return laid_out


class HtmlIds(HTMLParser):
    """Every id in an HTML text, every link to an id (``href="#..."``, SVG's ``xlink:href`` too), and
    every piece of text, its references resolved."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.links: set[str] = set()
        self.texts: set[str] = set()
        self.feed(text)
        self.close()

    def handle_data(self, data: str) -> None:
        self.texts.add(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "id" and value:
                self.ids.append(value)
            elif name in ("href", "xlink:href") and value and value.startswith("#"):
                self.links.add(value[1:])


def endless_h5_heap(data: bytes) -> bytes:
    """An .h5 file (``data``, with a variable-length attribute) whose global heap says it has no
    free space left: libhdf5 then loops for ever reading the attribute's value."""
    collection = data.index(b"GCOL")
    end = collection + int.from_bytes(data[collection + 8 : collection + 16], "little")
    for at in range(collection + 16, end - 16, 8):
        if data[at : at + 8] == bytes(8) and at + int.from_bytes(data[at + 8 : at + 16], "little") == end:
            return data[: at + 8] + bytes(8) + data[at + 16 :]
    raise AssertionError("no free space object in the global heap")
