"""Images: references (``reference``), the content-addressed blob store (``content``), the registry client
(``auth``, ``registry``) and blob-level pull/push (``pull``); layer tars unpacked once into directories keyed by
chain id (``unpack``, ``layers``) and the image records that stack them (``store``). Nothing here is imported on
the ``nsrun run`` start path except ``store``'s lookups, which import nothing heavy."""
