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


def _forward_warnings_only() -> None:
    """Let only libvips' warnings and errors reach Python logging.

    pyvips forwards every libvips message, INFO included: dozens per image, each a call from
    a libvips worker thread back into Python that must take the GIL. That halved the
    processor's throughput. Without a handler for INFO, GLib's default one drops them.
    """
    flags = pyvips.GLogLevelFlags
    pyvips._remove_log_handler()
    pyvips.glib_lib.g_log_set_handler(
        b"VIPS",
        flags.LEVEL_WARNING
        | flags.LEVEL_CRITICAL
        | flags.LEVEL_ERROR
        | flags.FLAG_FATAL
        | flags.FLAG_RECURSION,
        pyvips._log_handler_cb,
        pyvips.ffi.NULL,
    )


def configure() -> None:
    _forward_warnings_only()
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
