"""Images from registries: references (``reference``), the content-addressed blob store (``content``), the
registry client (``auth``, ``registry``) and blob-level pull/push (``pull``). Nothing here is imported on the
path that starts a container; import the submodule you need."""
