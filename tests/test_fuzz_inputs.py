"""The loader fuzzed (issue 25): random and mutated manifests, .keras archives, .json and .h5 configs.

Hypothesis feeds 10,000 inputs, in four targets, to what reads untrusted files in the parent:
``manifest.load`` and, for every model it accepts, ``sources.read`` (builder modules, a model
file's architecture). Each input must end in one of two ways: read, or refused with one line
(a ManifestError for the manifest, a ModelError for that model). Anything else fails: another
exception (a traceback for the user), an input that takes over 5 s (an alarm interrupts it),
or a process that grows by 300 MB or more over the whole run.

Mutations start from real inputs (the example manifest, the bad-input corpus, an archive laid
out as Keras writes one) and flip, cut, repeat and insert bytes; the random inputs include zip
headers whose sizes lie and JSON nested far deeper than any model.
"""

from __future__ import annotations

import contextlib
import io
import json
import signal
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archreport import manifest
from archreport.errors import ManifestError, ModelError
from archreport.manifest import sources
from tests.helpers import EXAMPLES, endless_h5_heap

pytestmark = pytest.mark.slow

CORPUS = Path(__file__).resolve().parent / "bad_inputs"
FUZZ = settings(
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
LIMIT_SECONDS = 5.0
GROWTH_LIMIT_KB = 300 * 1024

# A small model's config, as Keras writes it into a .keras archive and an .h5 file's model_config.
CONFIG = json.dumps(
    {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": "tiny",
            "layers": [
                {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [None, 3]}},
                {
                    "module": "keras.layers",
                    "class_name": "Dense",
                    "config": {
                        "name": "dense",
                        "units": 2,
                        "kernel_initializer": {"class_name": "GlorotUniform"},
                    },
                },
            ],
        },
    }
)


def _keras_archive(config: str = CONFIG) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", '{"keras_version": "3.15.1"}')
        archive.writestr("config.json", config)
        archive.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n" + bytes(64))
    return buffer.getvalue()


def _h5_file(path: Path, variable: bool) -> bytes:
    import h5py

    with h5py.File(path, "w") as f:
        if variable:
            f.attrs.create("model_config", CONFIG, dtype=h5py.string_dtype())
        else:
            f.attrs["model_config"] = CONFIG.encode()
        f.create_group("model_weights")
    return path.read_bytes()


# -- mutations ----------------------------------------------------------------------
@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed with a few bytes flipped, cut, repeated or inserted."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "cut", "repeat", "insert", "truncate"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "cut":
            del data[at : at + draw(st.integers(1, 64))]
        elif kind == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 64))] * draw(st.integers(2, 50))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=32))
        else:
            del data[at:]
    return bytes(data)


def _lying_zip(name: str, content: bytes, declared: int, method: int) -> bytes:
    """An archive of one member whose headers declare ``declared`` bytes, whatever it holds."""
    data = content
    if method == zipfile.ZIP_DEFLATED:
        import zlib

        squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
        data = squeeze.compress(content) + squeeze.flush()
    raw = name.encode()
    sizes = (0, len(data), declared, len(raw), 0)
    local = struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, method, 0, 0, *sizes) + raw
    central = struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, method, 0, 0, *sizes, 0, 0, 0, 0, 0) + raw
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local) + len(data), 0)
    return local + data + central + end


def _nested(depth: int, kind: str) -> str:
    opener, closer = ("[", "]") if kind == "array" else ('{"a":', "}")
    return opener * depth + "0" + closer * depth


json_texts = st.one_of(
    st.builds(_nested, st.integers(1, 50_000), st.sampled_from(["array", "object"])),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
        max_leaves=40,
    ).map(json.dumps),
    st.text(max_size=200),
)


# -- the harness ----------------------------------------------------------------------
def _peak_kib() -> int:
    """This process's peak resident memory since the last reset (VmHWM), in KiB."""
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1])


@pytest.fixture(scope="module")
def memory() -> Iterator[None]:
    """The whole module's inputs together grow the process by less than 300 MB."""
    import h5py  # noqa: F401  (imported before the baseline: its own size is not the inputs' doing)

    # The peak is reset to the process's size now: earlier tests in this process may have left a
    # peak far above it (ru_maxrss never goes down), under which any growth here would hide.
    Path("/proc/self/clear_refs").write_text("5")
    before = _peak_kib()
    yield
    grew = _peak_kib() - before
    assert grew < GROWTH_LIMIT_KB, f"the fuzzed inputs grew the process by {grew // 1024} MB"


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise TimeoutError(f"an input took over {LIMIT_SECONDS:g} s")


@contextlib.contextmanager
def _within_time() -> Iterator[None]:
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, LIMIT_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _one_line(exc: Exception, start: str = "") -> None:
    text = str(exc)
    assert text.strip() and "\n" not in text and "Traceback" not in text, repr(text)
    assert text.startswith(start), repr(text)


def _read_model_file(path: Path) -> None:
    """The architecture of ``path``, or one line saying why not; nothing else."""
    with _within_time():
        try:
            architecture = sources.architecture(path)
        except ModelError as exc:
            _one_line(exc, f"cannot read the architecture of {path.name}: ")
            return
    json.loads(architecture.text)  # what was accepted is JSON


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("fuzz")
    (work / "tiny.py").write_text(
        (CORPUS / "_shared" / "tiny.py").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (work / "lenet.py").write_text((EXAMPLES / "lenet.py").read_text(encoding="utf-8"), encoding="utf-8")
    (work / "blocks.py").write_text((EXAMPLES / "blocks.py").read_text(encoding="utf-8"), encoding="utf-8")
    (work / "model.json").write_text(CONFIG, encoding="utf-8")
    (work / "model.keras").write_bytes(_keras_archive())
    return work


def _manifest_seeds() -> list[bytes]:
    seeds = [(EXAMPLES / "manifest.toml").read_bytes()]
    seeds += [p.read_bytes() for p in sorted(CORPUS.glob("*/manifest.toml")) if p.is_file()]
    seeds.append(
        b'[[model]]\nname = "json"\nfile = "model.json"\n[[model]]\nname = "k"\nfile = "model.keras"\n'
    )
    return seeds


@settings(FUZZ, max_examples=3000)
@given(
    data=st.one_of(mutated(_manifest_seeds()), st.binary(max_size=400), st.text(max_size=400).map(str.encode))
)
def test_manifests(data: bytes, folder: Path, memory: None) -> None:
    path = folder / "manifest.toml"
    path.write_bytes(data)
    with _within_time():
        try:
            loaded = manifest.load(path)
        except ManifestError as exc:
            _one_line(exc)
            return
        for spec in loaded.models:
            try:
                sources.read(spec)
            except ModelError as exc:
                _one_line(exc)


@settings(FUZZ, max_examples=3000)
@given(
    data=st.one_of(
        mutated([_keras_archive(), _keras_archive(_nested(300, "array")), _keras_archive("not json")]),
        st.builds(
            _lying_zip,
            st.sampled_from(["config.json", "metadata.json", "config.json\x00", "../config.json"]),
            st.one_of(
                st.binary(max_size=64),
                st.just(CONFIG.encode()),
                st.integers(1, 2**20).map(lambda n: b" " * n),
            ),
            st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([0, 1, 6000, 2**31, 2**32 - 1])),
            st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]),
        ),
        st.binary(max_size=400),
    )
)
def test_keras_archives(data: bytes, folder: Path, memory: None) -> None:
    path = folder / "fuzzed.keras"
    path.write_bytes(data)
    _read_model_file(path)


@settings(FUZZ, max_examples=3900)
@given(text=st.one_of(json_texts, mutated([CONFIG.encode()]).map(lambda b: b.decode("utf-8", "replace"))))
def test_json_configs(text: str, folder: Path, memory: None) -> None:
    path = folder / "fuzzed.json"
    path.write_text(text, encoding="utf-8")
    _read_model_file(path)


@pytest.fixture(scope="module")
def h5_seeds(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    folder = tmp_path_factory.mktemp("h5-seeds")
    variable = _h5_file(folder / "variable.h5", variable=True)
    return [_h5_file(folder / "fixed.h5", variable=False), variable, endless_h5_heap(variable)]


# Each .h5 read runs in a child process (about a quarter of a second): 100 here, 200 more JSON ones.
@settings(FUZZ, max_examples=100)
@given(data=st.data())
def test_h5_configs(data: Any, h5_seeds: list[bytes], folder: Path, memory: None) -> None:
    content = data.draw(st.one_of(mutated(h5_seeds), st.binary(max_size=400)))
    path = folder / "fuzzed.h5"
    path.write_bytes(content)
    _read_model_file(path)
