"""Default limits on what pixelmill accepts (DESIGN.md §3); each is a setting of its own."""

from typing import Final

MIB: Final = 1024 * 1024

MAX_FILE_BYTES: Final = 50 * MIB
MAX_PIXELS: Final = 100_000_000
MAX_FRAMES: Final = 100
# The pixel limit holds for up to this many channels a pixel (CMYK with alpha); an image of
# more (a TIFF can have thousands) is held to as many samples instead.
CHANNELS_PER_PIXEL_LIMIT: Final = 5
MAX_VARIANTS: Final = 16
# What all the variants of one image may make together, in multiples of the pixel limit
# (each is held to the limit too): room for a few full-size conversions, not for sixteen.
TOTAL_OUTPUT_PIXELS_PER_PIXEL_LIMIT: Final = 4
# A progressive JPEG is decoded scan by scan; encoders write 10 to 60 scans. Hostile files
# give every coefficient bit a scan of its own, each costing up to a decode: 500 crafted
# scans still made a 284 KB file cost 45 times a baseline JPEG of its size.
MAX_JPEG_SCANS: Final = 100
MAX_IMAGES_PER_TASK: Final = 500
MAX_TASK_BYTES: Final = 2 * 1024 * MIB
# A submission's parameters, all form fields together or the JSON body: held in memory.
MAX_PARAMETERS_BYTES: Final = MIB
# Images one owner may have queued, processing or retrying at once: one shop flooding the
# queue cannot push everyone else's work back by more than this.
MAX_UNFINISHED_IMAGES_PER_OWNER: Final = 5000

URL_TIMEOUT_SECONDS: Final = 10.0
URL_MAX_REDIRECTS: Final = 3
