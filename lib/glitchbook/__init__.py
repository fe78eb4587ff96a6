"""glitchbook: models and metrics for finding and fixing bad data in image datasets."""

from glitchbook.errors import (
    ChecksumError,
    ConfigError,
    DatasetUnavailable,
    GlitchbookError,
    NonFiniteLossError,
    UnreadableRecord,
)

__version__ = "0.1.0"

__all__ = [
    "ChecksumError",
    "ConfigError",
    "DatasetUnavailable",
    "GlitchbookError",
    "NonFiniteLossError",
    "UnreadableRecord",
    "__version__",
]
