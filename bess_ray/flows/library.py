"""Every flow bess-ray ships, registered on import (see `registry`)."""
from . import data_update, manual, send, trading  # noqa: F401
