"""Process-wide libvips settings for decoding untrusted images.

libvips keeps these globally, so they are applied once when the engine is imported and hold
for every other user of pyvips in the process.
"""

import os

import pyvips

# Every loader is blocked except those of the formats in `formats.LOADERS`: a file that
# passes our sniffing can then still never reach, say, the matrix or raw loaders.
_ALLOWED_LOADER_CLASSES = (
    "VipsForeignLoadJpeg",
    "VipsForeignLoadUhdr",
    "VipsForeignLoadPng",
    "VipsForeignLoadWebp",
    "VipsForeignLoadNsgif",
    "VipsForeignLoadTiff",
    "VipsForeignLoadHeif",
    "VipsForeignLoadSvg",
    "VipsForeignLoadPdf",
)


def configure() -> None:
    pyvips.block_untrusted_set(True)
    pyvips.operation_block_set("VipsForeignLoad", True)
    for loader in _ALLOWED_LOADER_CLASSES:
        pyvips.operation_block_set(loader, False)
    # Every call brings new bytes, so cached operations are never reused; they would only
    # hold on to sources and decoded pixels.
    pyvips.cache_set_max(0)


def set_threads_per_image(workers: int) -> None:
    """Size libvips' per-image thread pool for `workers` images processed in parallel.

    With as many workers as cores, extra threads inside each image only add hand-offs.
    """
    cores = os.cpu_count() or 1
    pyvips.concurrency_set(max(1, cores // max(1, workers)))


def has_loader(nickname: str) -> bool:
    return bool(pyvips.type_find("VipsOperation", f"{nickname}_buffer"))
