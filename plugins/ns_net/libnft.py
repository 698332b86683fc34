"""The one way nsrun opens libnftables (Debian's python3-nftables): a JSON-speaking context. The seam tests
replace; the nft backend and the FORWARD-policy guard both use it."""
from __future__ import annotations

TYPE_CHECKING = False  # no typing import at run time (``nsrun-oci create``, ``nsrun run``)
if TYPE_CHECKING:
    from typing import Any


__all__ = ["open_nft"]


def open_nft() -> Any:
    import nftables  # Debian's python3-nftables; ~7 ms: only when a bridge is used
    nft = nftables.Nftables()
    nft.set_json_output(True)
    nft.set_handle_output(False)
    return nft
