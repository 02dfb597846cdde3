"""Writing files so that a reader never sees half of one: write to a temporary name, then rename."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path

from kerascnn.errors import DataError, KerasCNNError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp makes owner-only files; what we write should get the usual permissions.
FILE_MODE = 0o666 & ~_umask()


@contextmanager
def atomic_path(path: str | os.PathLike):
    """Yields a temporary path beside `path`; renames it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent
    )
    os.close(handle)
    os.chmod(temporary, FILE_MODE)
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


@contextmanager
def atomic_directory(path: str | os.PathLike):
    """Yields a staging folder beside `path` and swaps it in for `path` only if the block succeeds.

    An existing `path` is replaced as a whole: a reader sees the old folder or the new one, never
    a mix, and a failure leaves the old one as it was.
    """

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.partial-", dir=path.parent))
    os.chmod(staging, 0o777 & ~_umask())
    try:
        yield staging
        if path.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
            os.replace(path, retired / path.name)
            os.replace(staging, path)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, path)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def check_writable(directory, *, what: str, flag: str, needed_bytes: int = 0) -> None:
    """Fails now, not after hours of training, if `directory` cannot be created and written or its
    disk has less than `needed_bytes` free. Leaves nothing behind."""

    path = Path(directory).absolute()
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise KerasCNNError(
            f"the {what} {directory} cannot be created: {existing} is a file, not a folder; "
            f"choose another {flag}"
        )
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".kerascnn-probe-", dir=existing))
    except OSError as error:
        raise KerasCNNError(
            f"the {what} {directory} is not writable ({existing}: {error.strerror}); "
            f"choose a writable {flag}"
        ) from None
    free = shutil.disk_usage(existing).free
    if free < needed_bytes:
        raise KerasCNNError(
            f"the {what} {directory} has {free / 2**20:.0f} MB free, but this run needs about "
            f"{needed_bytes / 2**20:.0f} MB for checkpoints and exports; free some space or "
            f"choose another {flag}"
        )


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text)


def write_json(path: str | os.PathLike, data) -> None:
    write_text(path, json.dumps(data, indent=2, default=str) + "\n")


ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")


def unpacked(path) -> Path:
    """`path` itself, or for an archive (.zip, .tar, .tar.gz) the folder beside it that holds its
    contents, extracted once (`extract_archive`)."""
    path = Path(path)
    suffix = next((s for s in ARCHIVE_SUFFIXES if path.name.endswith(s)), None)
    if suffix is None or not path.is_file():
        return path
    target = path.with_name(path.name[: -len(suffix)])
    if not target.is_dir():
        with atomic_directory(target) as staging:
            extract_archive(path, staging)
    return target


def extract_archive(archive, destination) -> None:
    """Extracts a zip or tar archive into `destination`, refusing any member that would land
    outside it (an absolute path, '..', or a link): the archive is the user's, not trusted."""

    archive, destination = Path(archive), Path(destination).resolve()

    def inside(name: str) -> Path:
        target = (destination / name).resolve()
        if Path(name).is_absolute() or (
            target != destination and destination not in target.parents
        ):
            raise DataError(
                f"archive {archive} holds {name!r}, which would be written outside the folder it "
                "is extracted to; nothing was extracted from it, use a trusted archive"
            )
        return target

    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zipped:
                for name in zipped.namelist():
                    inside(name)
                zipped.extractall(destination)
            return
        with tarfile.open(archive) as tarred:
            members = tarred.getmembers()
            for member in members:
                inside(member.name)
                if member.issym() or member.islnk() or member.isdev():
                    raise DataError(
                        f"archive {archive} holds the link or device {member.name!r}; kerascnn "
                        "extracts only files and folders, use an archive without links"
                    )
            tarred.extractall(destination, members=members, filter="data")
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as error:
        raise DataError(
            f"cannot extract {archive}: {error}; replace it with an intact copy"
        ) from None
